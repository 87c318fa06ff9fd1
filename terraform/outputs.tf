output "grpc_endpoint" {
  description = "Where clients send logs (logstream.LogIngestion/Ingest), e.g. `bun run send --addr <this> \"hello\"`."
  value       = "${module.host.public_ip}:${local.ports.grpc}"
}

output "http_endpoint" {
  description = "Base URL of the query API."
  value       = "http://${module.host.public_ip}:${local.ports.http}"
}

output "health_url" {
  description = "The query service's health check (200 when the database answers)."
  value       = "http://${module.host.public_ip}:${local.ports.http}/health"
}

output "ssh_command" {
  description = "SSH into the host (Ubuntu); null when no key pair was given."
  value       = var.key_name == null ? null : "ssh ubuntu@${module.host.public_ip}"
}

output "public_ip" {
  description = "The host's Elastic IP."
  value       = module.host.public_ip
}

output "instance_id" {
  description = "The EC2 instance running the stack."
  value       = module.host.instance_id
}

output "security_group_id" {
  description = "The security group that admits allowed_cidrs; reusable by other runtimes (e.g. an EKS node group)."
  value       = module.network.security_group_id
}

output "admin_key_file" {
  description = "Where the first admin key is, on the host (root only): `sudo cat` it over SSH or SSM. Made on the host by compose's init; Terraform never sees the key."
  value       = "/opt/logstream/secrets/admin-key"
}
