//! TCP listeners, plain or TLS (rustls), each serving the HTTP API.
//!
//! With TLS the server asks every client for a certificate but, unless
//! `tls_require_and_verify_client_cert` is set, neither requires nor judges one: certificate auth
//! will read it from the handshake and decide, as Vault does.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::ListenerConfig;
use crate::http::Connection;
use crate::limits::{HttpLimits, Watch, Watched};

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("error loading TLS material from {path}: {message}")]
    Tls { path: String, message: String },
    #[error("error configuring TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("error listening on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Builds the rustls configuration of a listener; paths are relative to the working directory.
pub fn tls_config(l: &ListenerConfig) -> Result<rustls::ServerConfig, ListenerError> {
    let tls_err = |path: &std::path::Path, message: String| ListenerError::Tls {
        path: path.display().to_string(),
        message,
    };
    let (Some(cert_path), Some(key_path)) = (&l.tls_cert_file, &l.tls_key_file) else {
        return Err(ListenerError::Tls {
            path: String::new(),
            message: "tls_cert_file and tls_key_file are required".into(),
        });
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| tls_err(cert_path, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err(cert_path, e.to_string()))?;
    if certs.is_empty() {
        return Err(tls_err(cert_path, "no certificate found".into()));
    }
    let key =
        PrivateKeyDer::from_pem_file(key_path).map_err(|e| tls_err(key_path, e.to_string()))?;
    let versions: &[&rustls::SupportedProtocolVersion] = if l.tls_min_version == "tls13" {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12, &rustls::version::TLS13]
    };
    let provider = provider();
    let verifier: Arc<dyn ClientCertVerifier> = match &l.tls_client_ca_file {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).map_err(|e| tls_err(ca, e.to_string()))? {
                roots
                    .add(c.map_err(|e| tls_err(ca, e.to_string()))?)
                    .map_err(|e| tls_err(ca, e.to_string()))?;
            }
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            let builder = if l.tls_require_and_verify_client_cert {
                builder
            } else {
                builder.allow_unauthenticated()
            };
            builder.build().map_err(|e| tls_err(ca, e.to_string()))?
        }
        None => Arc::new(RequestAnyClientCert(Arc::clone(&provider))),
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Asks for a client certificate, accepts any (or none), and checks only that the client holds
/// the certificate's private key. Trust is decided later by the certificate auth method.
#[derive(Debug)]
struct RequestAnyClientCert(Arc<rustls::crypto::CryptoProvider>);

impl ClientCertVerifier for RequestAnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    /// Checked against the certificate's public key alone, without webpki parsing the
    /// certificate: webpki refuses X.509 v1 certificates, which Go's TLS (Vault's) accepts from
    /// clients (hvac's test suite sends one). Over TLS 1.2 such a certificate is still refused.
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let spki = subject_public_key_info(cert.as_ref()).ok_or(
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding),
        )?;
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(spki),
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The DER of a certificate's SubjectPublicKeyInfo: the seventh field of the TBSCertificate
/// (after the optional version, serial, signature algorithm, issuer, validity and subject).
fn subject_public_key_info(cert: &[u8]) -> Option<&[u8]> {
    let (_, certificate, _) = der_element(cert)?;
    let (_, tbs, _) = der_element(certificate)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = der_element(rest)?.2;
    }
    for _ in 0..5 {
        rest = der_element(rest)?.2;
    }
    let (spki, _, _) = der_element(rest)?;
    (spki.first() == Some(&0x30)).then_some(spki)
}

/// One DER element with a one-byte tag at the start of `b`: (the whole element, its contents,
/// what follows it).
fn der_element(b: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let first = usize::from(*b.get(1)?);
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let len = b
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |acc, byte| (acc << 8) | usize::from(*byte));
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((b.get(..end)?, b.get(header..end)?, b.get(end..)?))
}

pub async fn bind(address: &str) -> Result<TcpListener, ListenerError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ListenerError::Bind {
            address: address.to_owned(),
            source,
        })
}

/// Accepts connections until `shutdown` turns true, at most `limits.max_connections` at once.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: axum::Router,
    limits: HttpLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    loop {
        // A slot first: past the cap, clients wait in the kernel's accept queue.
        let slot = tokio::select! {
            s = Arc::clone(&slots).acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => return,
            },
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let watch = Watch::new();
            let stream = Watched::new(stream, Arc::clone(&watch));
            let served = async {
                match acceptor {
                    Some(a) => match a.accept(stream).await {
                        Ok(tls) => serve_conn(TokioIo::new(tls), peer, app, &watch, limits).await,
                        Err(e) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                    },
                    None => serve_conn(TokioIo::new(stream), peer, app, &watch, limits).await,
                }
            };
            tokio::select! {
                _ = served => {}
                why = watch.expired(limits) => tracing::debug!(%peer, why, "connection closed"),
            }
        });
    }
}

async fn serve_conn<I>(
    io: I,
    peer: SocketAddr,
    app: axum::Router,
    watch: &Arc<Watch>,
    limits: HttpLimits,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let watch = Arc::clone(watch);
    let svc = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        let in_flight = watch.request(req.version());
        req.extensions_mut().insert(Connection {
            peer,
            read_timeout: limits.read_timeout,
        });
        let answer = app.clone().oneshot(req.map(axum::body::Body::new));
        async move {
            let r = answer.await;
            drop(in_flight);
            r
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's header clock also runs between requests; as a backstop only, at the idle
    // timeout (the watchdog enforces the header timeout from the first byte).
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.idle_timeout);
    if let Err(e) = builder.serve_connection(io, svc).await {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::subject_public_key_info;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::SubjectPublicKeyInfoDer;

    #[test]
    fn finds_the_public_key_of_a_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let spki =
            SubjectPublicKeyInfoDer::from_pem_slice(key.public_key_pem().as_bytes()).unwrap();
        assert_eq!(subject_public_key_info(cert.der()), Some(spki.as_ref()));
        // Cut short anywhere, it is no certificate.
        for n in [0, 1, 5, cert.der().len() / 2, cert.der().len() - 1] {
            assert_eq!(subject_public_key_info(&cert.der()[..n]), None, "{n}");
        }
    }
}
