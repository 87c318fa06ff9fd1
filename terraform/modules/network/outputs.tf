output "security_group_id" {
  description = "The security group admitting allowed_cidrs on the named ports."
  value       = aws_security_group.this.id
}

output "ingress_rules" {
  description = "The ingress rules created, by \"<port name>-<cidr>\"."
  value       = { for key, rule in aws_vpc_security_group_ingress_rule.allowed : key => rule.id }
}
