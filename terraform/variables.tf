variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name prefix for every resource."
  type        = string
  default     = "logstream"
}

variable "instance_type" {
  description = "EC2 instance type for the host running the whole compose stack (Kafka, PostgreSQL and the services). 8 GiB of memory or more; Graviton (arm64) types work too."
  type        = string
  default     = "t3.large"
}

variable "key_name" {
  description = "Name of an existing EC2 key pair for SSH. Null: no key is installed (use SSM Session Manager, or add one later)."
  type        = string
  default     = null
}

variable "allowed_cidrs" {
  description = "CIDR blocks allowed to reach gRPC (50051), OTLP/gRPC (4317), the HTTP intake (4318), HTTP (8080) and SSH (22). Empty by default: nothing can connect until you list your own networks."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.allowed_cidrs : can(cidrhost(cidr, 0))])
    error_message = "Every entry of allowed_cidrs must be a CIDR block, e.g. 203.0.113.7/32."
  }
}

variable "subnet_id" {
  description = "Subnet (with a route to an internet gateway) for the host; its zone must offer instance_type. Null: a default subnet of the default VPC in a zone that offers instance_type (not every zone offers every type: us-east-1e has no t3)."
  type        = string
  default     = null
}

variable "root_volume_gb" {
  description = "Size of the encrypted root volume, which holds Kafka's log and PostgreSQL's data."
  type        = number
  default     = 100
}

variable "consumer_replicas" {
  description = "Consumer containers; more than the topic's partitions (3) would sit idle."
  type        = number
  default     = 2
}

variable "logstream_image" {
  description = "Prebuilt LogStream image to run, e.g. ghcr.io/example/logstream:0.1.0. Empty: the host clones repo_url and builds the image itself."
  type        = string
  default     = ""
}

variable "repo_url" {
  description = "Git URL of this repository, cloned on the host when logstream_image is empty."
  type        = string
  default     = ""
}

variable "repo_ref" {
  description = "Branch or tag of repo_url to deploy."
  type        = string
  default     = "main"
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
