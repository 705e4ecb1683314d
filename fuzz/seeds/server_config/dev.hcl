storage "file" {
  path = "/var/lib/tresor"
}

listener "tcp" {
  address       = "127.0.0.1:8200"
  tls_cert_file = "/etc/tresor/cert.pem"
  tls_key_file  = "/etc/tresor/key.pem"
  max_request_size = 33554432
}

api_addr          = "https://127.0.0.1:8200"
default_lease_ttl = "768h"
max_lease_ttl     = "8760h"
disable_mlock     = true
ui                = true
log_level         = "info"
