variable "name" {
  description = "Name prefix."
  type        = string
}

variable "vpc_id" {
  description = "VPC the security group belongs to."
  type        = string
}

variable "allowed_cidrs" {
  description = "CIDR blocks (IPv4 or IPv6) admitted to every port in `ports`. Empty: no ingress at all."
  type        = list(string)
}

variable "ports" {
  description = "TCP ports to open, by name (e.g. { grpc = 50051 })."
  type        = map(number)
}
