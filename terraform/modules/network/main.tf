# Who may reach LogStream: one security group admitting only allowed_cidrs on the named ports.
# It knows nothing of compose, so a later EKS load balancer or node group can use it unchanged.

locals {
  # One rule per (port, CIDR): the provider's rule resource takes a single CIDR. No CIDRs, no rules.
  ingress = {
    for pair in setproduct(keys(var.ports), var.allowed_cidrs) :
    "${pair[0]}-${pair[1]}" => { port = var.ports[pair[0]], cidr = pair[1], name = pair[0] }
  }
}

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-"
  description = "LogStream: gRPC, HTTP and SSH from allowed CIDRs only"
  vpc_id      = var.vpc_id

  tags = {
    Name = var.name
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "allowed" {
  for_each = local.ingress

  security_group_id = aws_security_group.this.id
  description       = "${each.value.name} from ${each.value.cidr}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = strcontains(each.value.cidr, ":") ? null : each.value.cidr
  cidr_ipv6         = strcontains(each.value.cidr, ":") ? each.value.cidr : null
}

# The host pulls packages and images and is reached back by nothing it did not ask for.
resource "aws_vpc_security_group_egress_rule" "all_ipv4" {
  security_group_id = aws_security_group.this.id
  description       = "outbound (packages, images)"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}
