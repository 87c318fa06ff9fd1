# LogStream on AWS as one EC2 host running the docker-compose stack, like the original deployment.
# Modules: `network` (who may connect) is shared by any way of running the services; `compose-host` is the
# single-host runtime. Moving the stateless services to EKS replaces compose-host with an EKS module and
# points them at MSK and RDS; see the README's deploy section.

data "aws_vpc" "default" {
  count   = var.subnet_id == null ? 1 : 0
  default = true
}

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
}

data "aws_subnet" "host" {
  id = var.subnet_id != null ? var.subnet_id : sort(data.aws_subnets.default[0].ids)[0]
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
