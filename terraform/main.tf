# LogStream on AWS as one EC2 host running the docker-compose stack, like the original deployment.
# Modules: `network` (who may connect) is shared by any way of running the services; `compose-host` is the
# single-host runtime. Moving the stateless services to EKS replaces compose-host with an EKS module and
# points them at MSK and RDS; see the README's deploy section.

data "aws_vpc" "default" {
  count   = var.subnet_id == null ? 1 : 0
  default = true
}

# The availability zones of the region that offer var.instance_type. Not every zone offers every type
# (us-east-1e has no t3), and a host in such a zone fails at RunInstances, after the network is built.
data "aws_ec2_instance_type_offerings" "host" {
  location_type = "availability-zone"

  filter {
    name   = "instance-type"
    values = [var.instance_type]
  }
}

# The default VPC's default subnets in those zones only.
data "aws_subnets" "default" {
  count = var.subnet_id == null ? 1 : 0

  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default[0].id]
  }

  filter {
    name   = "default-for-az"
    values = ["true"]
  }

  filter {
    name   = "availability-zone"
    values = data.aws_ec2_instance_type_offerings.host.locations
  }

  lifecycle {
    # Checked before the subnets are read, so the filter above is never sent without a zone.
    precondition {
      condition     = length(data.aws_ec2_instance_type_offerings.host.locations) > 0
      error_message = "No availability zone of ${var.region} offers instance type ${var.instance_type}: choose another instance_type or region."
    }
  }
}

locals {
  # An explicit subnet wins; otherwise the first (by id, so plans are stable) default subnet in a zone that
  # offers the instance type; null when there is none, which the precondition below reports.
  candidate_subnet_ids = var.subnet_id == null ? sort(data.aws_subnets.default[0].ids) : []
  host_subnet_id       = var.subnet_id != null ? var.subnet_id : try(local.candidate_subnet_ids[0], null)
}

data "aws_subnet" "host" {
  id = local.host_subnet_id

  lifecycle {
    precondition {
      condition     = local.host_subnet_id != null
      error_message = "The default VPC has no default subnet in a zone that offers ${var.instance_type} (zones offering it: ${join(", ", data.aws_ec2_instance_type_offerings.host.locations)}). Set subnet_id to a subnet in one of those zones, or choose another instance_type."
    }
    # Also for an explicit subnet_id: a zone without the type would only fail later, at RunInstances.
    postcondition {
      condition     = contains(data.aws_ec2_instance_type_offerings.host.locations, self.availability_zone)
      error_message = "Subnet ${self.id} is in ${self.availability_zone}, which does not offer ${var.instance_type} (zones offering it: ${join(", ", data.aws_ec2_instance_type_offerings.host.locations)}). Choose a subnet in one of those zones or another instance_type."
    }
  }
}

locals {
  ports = {
    ssh         = 22
    grpc        = 50051
    otlp_grpc   = 4317
    intake_http = 4318
    http        = 8080
  }
}

module "network" {
  source = "./modules/network"

  name          = var.name
  vpc_id        = data.aws_subnet.host.vpc_id
  allowed_cidrs = var.allowed_cidrs
  ports         = local.ports
}

module "host" {
  source = "./modules/compose-host"

  name               = var.name
  instance_type      = var.instance_type
  key_name           = var.key_name
  subnet_id          = data.aws_subnet.host.id
  security_group_ids = [module.network.security_group_id]
  root_volume_gb     = var.root_volume_gb
  compose_file       = file("${path.module}/../docker-compose.yml")
  consumer_replicas  = var.consumer_replicas
  logstream_image    = var.logstream_image
  repo_url           = var.repo_url
  repo_ref           = var.repo_ref
}
