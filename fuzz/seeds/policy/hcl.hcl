path "secret/data/app/*" {
  capabilities = ["create", "read", "update", "list"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = "1h"
  allowed_parameters = {
    "ttl" = ["1h", "2h"]
    "*" = []
  }
  denied_parameters = { "admin" = [] }
  required_parameters = ["name"]
}
path "sys/+/mounts" { capabilities = ["sudo", "read"] }
path "auth/token/lookup-self" { policy = "read" }
