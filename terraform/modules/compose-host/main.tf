# One EC2 host running the whole LogStream compose stack. Cloud-init installs Docker and the compose
# plugin from Ubuntu's archive, writes the stack and a .env with a password generated on the host (so it
# never passes through Terraform state), and starts it; Docker's restart policies bring it back after a reboot.

data "aws_ec2_instance_type" "host" {
  instance_type = var.instance_type
}

locals {
  architecture = contains(data.aws_ec2_instance_type.host.supported_architectures, "arm64") ? "arm64" : "amd64"
}

data "aws_ami" "ubuntu" {
  most_recent = true
  owners      = ["099720109477"] # Canonical

  filter {
    name   = "name"
    values = ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-${local.architecture}-server-*"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

resource "aws_instance" "host" {
  ami                    = data.aws_ami.ubuntu.id
  instance_type          = var.instance_type
  key_name               = var.key_name
  subnet_id              = var.subnet_id
  vpc_security_group_ids = var.security_group_ids

  user_data_base64 = base64gzip(templatefile("${path.module}/user-data.sh.tftpl", {
    compose_file_b64  = base64encode(var.compose_file)
    consumer_replicas = var.consumer_replicas
    logstream_image   = var.logstream_image
    repo_url          = var.repo_url
    repo_ref          = var.repo_ref
  }))
  # A changed stack definition means a new host: the data lives in Docker volumes on the root disk,
  # so plan carefully (or move PostgreSQL/Kafka to RDS/MSK) before changing it on a live deployment.
  user_data_replace_on_change = true

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_gb
    encrypted             = true
    delete_on_termination = true
  }

  metadata_options {
    http_tokens   = "required"
    http_endpoint = "enabled"
  }

  tags = {
    Name = var.name
  }

  lifecycle {
    precondition {
      condition     = var.logstream_image != "" || var.repo_url != ""
      error_message = "Set logstream_image (a prebuilt image) or repo_url (a repository to build on the host)."
    }
  }
}

# A stable address for clients across stop/start.
resource "aws_eip" "host" {
  domain   = "vpc"
  instance = aws_instance.host.id

  tags = {
    Name = var.name
  }
}
