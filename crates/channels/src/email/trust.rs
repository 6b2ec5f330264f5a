//! Which certificate authorities IMAP and SMTP over TLS trust: the public ones (webpki's
//! roots), and an institution's own, when its mail servers carry certificates of an internal
//! authority (`mail_ca_file`). Set once when the process starts; a setting, not state.

use std::sync::OnceLock;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The institution's certificate authorities, as given (PEM) and parsed.
struct Extra {
    pem: Vec<u8>,
    certs: Vec<CertificateDer<'static>>,
}

static EXTRA: OnceLock<Extra> = OnceLock::new();

/// Trusts the certificate authorities of a PEM bundle besides the public ones; returns how
/// many. A second call changes nothing (the first one stands for the process).
pub fn trust_pem(pem: &[u8]) -> Result<usize, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("mail_ca_file: not a PEM certificate bundle ({e})"))?;
    if certs.is_empty() {
        return Err("mail_ca_file: no certificate in it".into());
    }
    let count = certs.len();
    let _ = EXTRA.set(Extra {
        pem: pem.to_vec(),
        certs,
    });
    Ok(count)
}

/// The roots a TLS connection to a mail server checks its certificate against.
pub(crate) fn roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(extra) = EXTRA.get() {
        roots.add_parsable_certificates(extra.certs.iter().cloned());
    }
    roots
}

/// The institution's authorities as PEM, for the SMTP client's own TLS settings.
pub(crate) fn extra_pem() -> Option<&'static [u8]> {
    EXTRA.get().map(|e| e.pem.as_slice())
}
