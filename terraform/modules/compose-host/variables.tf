variable "name" {
  description = "Name prefix."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type; its architecture (x86_64 or arm64) picks the AMI."
  type        = string
}

variable "key_name" {
  description = "EC2 key pair for SSH, or null."
  type        = string
  default     = null
}

variable "subnet_id" {
  description = "Subnet for the host; it needs a route to the internet to install Docker and pull images."
  type        = string
}

variable "security_group_ids" {
  description = "Security groups for the host."
  type        = list(string)
}

variable "root_volume_gb" {
  description = "Encrypted gp3 root volume size; Docker volumes (Kafka, PostgreSQL) live on it."
  type        = number
  default     = 100
}

variable "compose_file" {
  description = "Contents of docker-compose.yml, written to the host when a prebuilt image is used."
  type        = string
}

variable "consumer_replicas" {
  description = "CONSUMER_REPLICAS for compose."
  type        = number
  default     = 2
}

variable "logstream_image" {
  description = "Prebuilt LogStream image; empty to build from repo_url on the host."
  type        = string
  default     = ""
}

variable "repo_url" {
  description = "Git URL cloned and built on the host when logstream_image is empty."
  type        = string
  default     = ""
}

variable "repo_ref" {
  description = "Branch or tag of repo_url."
  type        = string
  default     = "main"
}
