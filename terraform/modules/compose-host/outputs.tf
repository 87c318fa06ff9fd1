output "instance_id" {
  description = "The EC2 instance."
  value       = aws_instance.host.id
}

output "public_ip" {
  description = "The host's Elastic IP."
  value       = aws_eip.host.public_ip
}

output "private_ip" {
  description = "The host's address inside the VPC."
  value       = aws_instance.host.private_ip
}
