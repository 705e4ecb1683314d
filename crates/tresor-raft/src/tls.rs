//! The cluster's own TLS: one self-signed certificate the cluster makes at bootstrap, which every
//! node presents as server and as client on the cluster port. Peers are recognised by that exact
//! certificate (pinned), not by a name, so a node's address may change without a new certificate.
//!
//! The keyring (certificate and private key) is kept in the barrier by the core and handed here
//! after unseal; a sealed node has none and its cluster port completes no handshake.

use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::RaftError;

/// ALPN of node-to-node traffic, Vault's name for it.
pub const ALPN: &[u8] = b"raft_storage_v1";

/// What the barrier keeps at `core/raft/tls`: Vault's `tls_keyring` shape, reduced to what this
/// cluster uses.
#[derive(Serialize, Deserialize)]
pub struct Keyring {
    pub keys: Vec<KeyringKey>,
    pub active_key_id: String,
}

#[derive(Serialize, Deserialize)]
pub struct KeyringKey {
    pub id: String,
    pub key_type: String,
    /// Base64 of the certificate's DER.
    pub cluster_cert: String,
    /// Base64 of the PKCS#8 private key.
    pub cluster_key: String,
    pub created_time: String,
}

impl Drop for KeyringKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.cluster_key);
    }
}

/// A keyring made usable: the pinned certificates and the active key for rustls.
pub struct Loaded {
    pinned: Vec<CertificateDer<'static>>,
    active: Arc<CertifiedKey>,
    client: Arc<rustls::ClientConfig>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn tls_err(e: impl std::fmt::Display) -> RaftError {
    RaftError::Tls(e.to_string())
}

impl Keyring {
    /// A new keyring of one P-256 key, its certificate self-signed (`CN=raft-<id>`).
    pub fn generate(id: &str, now: &str) -> Result<Self, RaftError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(tls_err)?;
        let mut params =
            rcgen::CertificateParams::new(vec![format!("raft-{id}")]).map_err(tls_err)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("raft-{id}"));
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.not_after = rcgen::date_time_ymd(2126, 1, 1);
        let cert = params.self_signed(&key).map_err(tls_err)?;
        let key_der = Zeroizing::new(key.serialize_der());
        Ok(Keyring {
            keys: vec![KeyringKey {
                id: id.to_owned(),
                key_type: "P256".into(),
                cluster_cert: B64.encode(cert.der()),
                cluster_key: B64.encode(&key_der[..]),
                created_time: now.to_owned(),
            }],
            active_key_id: id.to_owned(),
        })
    }

    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RaftError> {
        serde_json::from_slice(bytes).map_err(tls_err)
    }

    pub fn load(&self) -> Result<Loaded, RaftError> {
        let mut pinned = Vec::new();
        for k in &self.keys {
            pinned.push(CertificateDer::from(
                B64.decode(&k.cluster_cert).map_err(tls_err)?,
            ));
        }
        let active = self
            .keys
            .iter()
            .find(|k| k.id == self.active_key_id)
            .ok_or_else(|| tls_err("the cluster keyring has no active key"))?;
        let key_der = Zeroizing::new(B64.decode(&active.cluster_key).map_err(tls_err)?);
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der.to_vec()));
        let cert = CertificateDer::from(B64.decode(&active.cluster_cert).map_err(tls_err)?);
        let provider = provider();
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(tls_err)?;
        let active = Arc::new(CertifiedKey::new(vec![cert], signing));
        let verifier = Arc::new(Pinned {
            pinned: pinned.clone(),
            signatures: Signatures(Arc::clone(&provider)),
        });
        let mut client = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_err)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_cert_resolver(Arc::new(Fixed(Arc::clone(&active))));
        client.alpn_protocols = vec![ALPN.to_vec()];
        Ok(Loaded {
            pinned,
            active,
            client: Arc::new(client),
        })
    }
}

impl Loaded {
    pub fn client_config(&self) -> rustls::ClientConfig {
        (*self.client).clone()
    }
}

/// The keyring the node currently holds, shared by the cluster port's TLS and the RPC client.
#[derive(Default)]
pub struct Current(RwLock<Option<Arc<Loaded>>>);

impl Current {
    pub fn set(&self, loaded: Option<Arc<Loaded>>) {
        if let Ok(mut c) = self.0.write() {
            *c = loaded;
        }
    }

    pub fn get(&self) -> Option<Arc<Loaded>> {
        self.0.read().ok().and_then(|c| c.clone())
    }
}

/// The cluster port's TLS: the certificate and the accepted peers follow [`Current`], so the
/// listener is bound once and refuses every handshake while the node holds no keyring.
pub fn server_config(current: Arc<Current>) -> Result<Arc<rustls::ServerConfig>, RaftError> {
    let provider = provider();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_err)?
        .with_client_cert_verifier(Arc::new(PeerVerifier {
            current: Arc::clone(&current),
            signatures: Signatures(provider),
        }))
        .with_cert_resolver(Arc::new(CurrentCert(current)));
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for Fixed {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
    fn has_certs(&self) -> bool {
        true
    }
}

struct CurrentCert(Arc<Current>);

impl std::fmt::Debug for CurrentCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurrentCert")
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.get().map(|l| Arc::clone(&l.active))
    }
}

fn is_pinned(pinned: &[CertificateDer<'_>], cert: &CertificateDer<'_>) -> bool {
    pinned.iter().any(|p| p.as_ref() == cert.as_ref())
}

/// The server side seen from a client: it must present one of the keyring's certificates.
/// The handshake's signature checks, the same on both sides.
#[derive(Debug)]
struct Signatures(Arc<rustls::crypto::CryptoProvider>);

impl Signatures {
    fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[derive(Debug)]
struct Pinned {
    pinned: Vec<CertificateDer<'static>>,
    signatures: Signatures,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if is_pinned(&self.pinned, end_entity) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.schemes()
    }
}

/// A client of the cluster port must present one of the keyring's certificates.
struct PeerVerifier {
    current: Arc<Current>,
    signatures: Signatures,
}

impl std::fmt::Debug for PeerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerVerifier")
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self.current.get() {
            Some(l) if is_pinned(&l.pinned, end_entity) => Ok(ClientCertVerified::assertion()),
            _ => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.schemes()
    }
}
