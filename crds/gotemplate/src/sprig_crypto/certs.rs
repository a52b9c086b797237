//! Certificates as sprig makes them with Go's `x509.CreateCertificate`: a random 128-bit
//! serial, the common name as the only subject attribute, valid from now for `daysValid` days,
//! key usage digital signature and key encipherment (plus certificate signing for a CA), extended
//! key usage server and client authentication, basic constraints (CA or not), IP and DNS
//! subject alternative names; a CA also gets a subject key identifier, a certificate signed by
//! another the issuer's as authority key identifier. The extensions come in Go's order and
//! encoding; new keys are RSA-2048, signatures SHA-256 with RSA, ECDSA with the curve's hash, or
//! Ed25519.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY};
use aws_lc_rs::rsa::KeySize;
use x509_cert::der::{Decode, Encode};

use super::super::call::{arg, bytes, int, text, Cx, FResult};
use super::super::value::{Str, Value};
use super::aes::go_base64;
use super::der::{self, bits, pem_decode, pem_encode, seq, tlv, uint, Bytes};
use super::keys::{check_pem, Key};
use super::{Heavy, F};

const COMMON_NAME: &[u8] = b"\x55\x04\x03";
const KEY_USAGE: &[u8] = b"\x55\x1d\x0f";
const EXT_KEY_USAGE: &[u8] = b"\x55\x1d\x25";
const BASIC_CONSTRAINTS: &[u8] = b"\x55\x1d\x13";
const SUBJECT_KEY_ID: &[u8] = b"\x55\x1d\x0e";
const AUTHORITY_KEY_ID: &[u8] = b"\x55\x1d\x23";
const SUBJECT_ALT_NAME: &[u8] = b"\x55\x1d\x11";
const SERVER_AUTH: &[u8] = b"\x2b\x06\x01\x05\x05\x07\x03\x01";
const CLIENT_AUTH: &[u8] = b"\x2b\x06\x01\x05\x05\x07\x03\x02";

/// What sprig's `getBaseCertTemplate` puts in a certificate, and whether it is a CA.
struct Template {
    subject: Bytes,
    ips: Vec<Vec<u8>>,
    dns: Vec<Vec<u8>>,
    days: i64,
    ca: bool,
}

/// The CA that signs a certificate: its subject, key identifier and key.
struct Issuer {
    subject: Vec<u8>,
    key_id: Option<Vec<u8>>,
    key: Key,
}

/// The `gen…` functions. genCA's arguments are (cn, days), the others' (cn, ips, dns, days),
/// then the CA for genSignedCert, then the key for the `…WithKey` forms.
pub(super) fn generate(f: F, args: &[Value], cx: &mut Cx) -> FResult {
    Heavy::Certificate.start(cx)?;
    let ca = matches!(f, F::GenCa | F::GenCaWithKey);
    let (ips, dns, days_at) = if ca {
        (&Value::Nil, &Value::Nil, 1)
    } else {
        (arg(args, 1), arg(args, 2), 3)
    };
    let template = Template::new(text(args, 0)?, ips, dns, int(args, days_at)?, ca)?;
    let issuer = match f {
        F::GenSignedCert | F::GenSignedCertWithKey => {
            Some(Issuer::new(arg(args, days_at + 1), cx)?)
        }
        _ => None,
    };
    let key = match f {
        F::GenCa | F::GenSelfSignedCert | F::GenSignedCert => Key::rsa(KeySize::Rsa2048, cx)?,
        _ => {
            let at = days_at + 1 + usize::from(issuer.is_some());
            let pem = text(args, at)?;
            Key::from_pem(pem, cx).map_err(|e| format!("parsing private key: {e}"))?
        }
    };
    let cert = create(&template, &key, issuer.as_ref())?;
    certificate(&pem_encode("CERTIFICATE", &cert), &key.to_pem()?, cx)
}

/// `buildCustomCert`: a certificate and key given in base64'd PEM, checked and returned as they
/// are.
pub(super) fn build_custom(cert64: &[u8], key64: &[u8], cx: &mut Cx) -> FResult {
    Heavy::Certificate.start(cx)?;
    let cert = go_base64(cert64).map_err(|_| "unable to decode base64 certificate")?;
    let key = go_base64(key64).map_err(|_| "unable to decode base64 private key")?;
    let block = pem_decode(&cert, cx)?.ok_or("unable to decode certificate")?;
    parse(&block.der).map_err(|e| format!("error parsing certificate: decodedCert.Bytes: {e}"))?;
    check_pem(&key, cx).map_err(|e| format!("error parsing private key: {e}"))?;
    certificate(&cert, &key, cx)
}

/// sprig's `certificate` struct, as a map.
fn certificate(cert: &[u8], key: &[u8], cx: &mut Cx) -> FResult {
    let mut entries = BTreeMap::new();
    for (name, pem) in [("Cert", cert), ("Key", key)] {
        entries.insert(Str::from_text(name), bytes(pem, cx)?);
    }
    Value::map(entries)
}

fn parse(der: &[u8]) -> Result<x509_cert::Certificate, String> {
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| format!("x509: {e}"))?;
    if cert.signature_algorithm != cert.tbs_certificate.signature {
        return Err("x509: inner and outer signature algorithm identifiers don't match".into());
    }
    Ok(cert)
}

impl Template {
    fn new(cn: &[u8], ips: &Value, dns: &Value, days: i64, ca: bool) -> Result<Self, String> {
        let ips = strings(ips, "error parsing ip")?
            .into_iter()
            .map(parse_ip)
            .collect::<Result<_, _>>()?;
        let dns = strings(dns, "error processing alternate dns name")?
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        Ok(Self {
            subject: name(cn)?,
            ips,
            dns,
            days,
            ca,
        })
    }

    fn extensions(&self, key: &Key, authority_key_id: Option<&[u8]>) -> Result<Bytes, String> {
        let mut exts: Vec<Bytes> = Vec::new();
        let key_usage: &[u8] = if self.ca {
            b"\x03\x02\x02\xa4"
        } else {
            b"\x03\x02\x05\xa0"
        };
        exts.push(extension(KEY_USAGE, true, key_usage));
        let eku = seq(&[
            &tlv(der::OID, &[SERVER_AUTH]),
            &tlv(der::OID, &[CLIENT_AUTH]),
        ]);
        exts.push(extension(EXT_KEY_USAGE, false, &eku));
        let constraints: &[u8] = if self.ca {
            b"\x30\x03\x01\x01\xff"
        } else {
            b"\x30\x00"
        };
        exts.push(extension(BASIC_CONSTRAINTS, true, constraints));
        if self.ca {
            let id = digest(&SHA1_FOR_LEGACY_USE_ONLY, key.public_bits());
            exts.push(extension(
                SUBJECT_KEY_ID,
                false,
                &tlv(der::OCTET_STRING, &[id.as_ref()]),
            ));
        }
        if let Some(id) = authority_key_id {
            exts.push(extension(
                AUTHORITY_KEY_ID,
                false,
                &seq(&[&tlv(0x80, &[id])]),
            ));
        }
        if let Some(names) = self.alt_names()? {
            let empty_subject = self.subject[..] == b"\x30\x00"[..];
            exts.push(extension(SUBJECT_ALT_NAME, empty_subject, &names));
        }
        let exts: Vec<&[u8]> = exts.iter().map(|e| &e[..]).collect();
        Ok(tlv(0xa3, &[&seq(&exts)]))
    }

    /// The subject alternative names, DNS names first, if there are any.
    fn alt_names(&self) -> Result<Option<Bytes>, String> {
        if self.ips.is_empty() && self.dns.is_empty() {
            return Ok(None);
        }
        if self.dns.iter().any(|dns| !dns.is_ascii()) {
            return Err(
                "error creating certificate: x509: a DNS name cannot be encoded as an IA5String"
                    .into(),
            );
        }
        let dns = self.dns.iter().map(|dns| tlv(0x82, &[dns]));
        let names: Vec<Bytes> = dns
            .chain(self.ips.iter().map(|ip| tlv(0x87, &[ip])))
            .collect();
        let names: Vec<&[u8]> = names.iter().map(|n| &n[..]).collect();
        Ok(Some(seq(&names)))
    }
}

impl Issuer {
    /// sprig's `certificate` argument: the CA's certificate and key, which must match.
    fn new(ca: &Value, cx: &mut Cx) -> Result<Self, String> {
        let entry = |name: &str| match ca {
            Value::Map(m) => match m.entries().get(name.as_bytes()) {
                Some(Value::Str(s)) => Ok(s.clone()),
                _ => Err("expected a certificate: a map with the strings Cert and Key".to_owned()),
            },
            _ => Err("expected a certificate: a map with the strings Cert and Key".to_owned()),
        };
        let (cert, key) = (entry("Cert")?, entry("Key")?);
        let block = pem_decode(cert.as_bytes(), cx)?.ok_or("unable to decode certificate")?;
        let cert = parse(&block.der)
            .map_err(|e| format!("error parsing certificate: decodedSignerCert.Bytes: {e}"))?;
        let key = Key::from_pem(key.as_bytes(), cx)
            .map_err(|e| format!("error parsing private key: {e}"))?;
        let tbs = &cert.tbs_certificate;
        if tbs.subject_public_key_info.subject_public_key.raw_bytes() != key.public_bits() {
            return Err("error creating certificate: x509: provided PrivateKey doesn't match parent's PublicKey".into());
        }
        let key_id = tbs
            .extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id.as_bytes() == SUBJECT_KEY_ID)
            .and_then(|e| der::contents(e.extn_value.as_bytes(), der::OCTET_STRING))
            .filter(|id| !id.is_empty())
            .map(<[u8]>::to_vec);
        let subject = tbs.subject.to_der().map_err(|e| format!("x509: {e}"))?;
        Ok(Self {
            subject,
            key_id,
            key,
        })
    }
}

/// The DER of a certificate for `key` from `template`, signed by `issuer` or self-signed.
fn create(template: &Template, key: &Key, issuer: Option<&Issuer>) -> Result<Bytes, String> {
    let (issuer_name, signer, authority_key_id) = match issuer {
        Some(i) => {
            let other = i.subject[..] != template.subject[..];
            (
                &i.subject[..],
                &i.key,
                i.key_id.as_deref().filter(|_| other),
            )
        }
        None => (&template.subject[..], key, None),
    };
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).map_err(|_| "error creating certificate: no randomness")?;
    let algorithm = signer.signature_algorithm();
    let spki = seq(&[&key.public_algorithm(), &bits(key.public_bits())]);
    let tbs = seq(&[
        b"\xa0\x03\x02\x01\x02",
        &uint(&serial),
        &algorithm,
        issuer_name,
        &validity(template.days)?,
        &template.subject,
        &spki,
        &template.extensions(key, authority_key_id)?,
    ]);
    let signature = signer.sign(&tbs)?;
    Ok(seq(&[&tbs, &algorithm, &bits(&signature)]))
}

fn extension(oid: &[u8], critical: bool, value: &[u8]) -> Bytes {
    let critical: &[u8] = if critical { b"\x01\x01\xff" } else { b"" };
    seq(&[
        &tlv(der::OID, &[oid]),
        critical,
        &tlv(der::OCTET_STRING, &[value]),
    ])
}

/// A subject of only the common name (none if it is empty), as Go's `asn1` writes a string: a
/// PrintableString if it can be one, else a UTF8String.
fn name(cn: &[u8]) -> Result<Bytes, String> {
    if cn.is_empty() {
        return Ok(seq(&[]));
    }
    let printable = cn.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(b, b'\''..=b')' | b'+'..=b'/' | b' ' | b':' | b'=' | b'?')
    });
    let tag = match (printable, std::str::from_utf8(cn).is_ok()) {
        (true, _) => 0x13,
        (false, true) => 0x0c,
        (false, false) => {
            return Err("error creating certificate: asn1: string not valid UTF-8".into())
        }
    };
    let attribute = seq(&[&tlv(der::OID, &[COMMON_NAME]), &tlv(tag, &[cn])]);
    Ok(seq(&[&tlv(0x31, &[&attribute])]))
}

/// The strings of a `[]interface {}` (nil is none).
fn strings<'a>(list: &'a Value, what: &str) -> Result<Vec<&'a [u8]>, String> {
    match list {
        Value::List(l) => l
            .items
            .iter()
            .map(|v| match v {
                Value::Str(s) => Ok(s.as_bytes()),
                other => Err(format!("{what}: a {} is not a string", other.type_name())),
            })
            .collect(),
        _ => Ok(Vec::new()),
    }
}

/// Go's `net.ParseIP`, as x509 writes the address: 4 bytes for IPv4 (also IPv4-mapped IPv6).
fn parse_ip(s: &[u8]) -> Result<Vec<u8>, String> {
    let ip: IpAddr = std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or("error parsing ip: not an IP address")?;
    Ok(match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets().to_vec(),
        },
    })
}

/// From now for `days` days (Go's `time.Hour * 24 * time.Duration(days)`, which wraps around),
/// in whole seconds.
fn validity(days: i64) -> Result<Bytes, String> {
    const NANOS: i128 = 1_000_000_000;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "error creating certificate: the clock is before 1970")?
        .as_nanos() as i128;
    let valid_for = 86_400_000_000_000i64.wrapping_mul(days);
    let not_after = now + i128::from(valid_for);
    let not_before = time((now / NANOS) as i64);
    let not_after = time(not_after.div_euclid(NANOS) as i64);
    Ok(seq(&[&not_before, &not_after]))
}

/// A UTCTime for the years 1950 to 2049, else a GeneralizedTime, as Go writes them.
fn time(unix: i64) -> Bytes {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    let clock = format!(
        "{m:02}{d:02}{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if (1950..2050).contains(&y) {
        tlv(0x17, &[format!("{:02}{clock}", y % 100).as_bytes()])
    } else {
        tlv(0x18, &[format!("{y:04}{clock}").as_bytes()])
    }
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_go_writes_them() {
        assert_eq!(&time(0)[2..], b"700101000000Z");
        assert_eq!(&time(951_782_400)[2..], b"000229000000Z");
        assert_eq!(&time(2_524_608_000)[..], b"\x18\x0f20500101000000Z");
        assert_eq!(&time(-631_152_001)[..], b"\x18\x0f19491231235959Z");
        assert_eq!(&time(-631_152_000)[2..], b"500101000000Z");
    }

    #[test]
    fn go_wraps_the_validity_around() {
        // 106752 days overflow an int64 of nanoseconds: the certificate ends in the past.
        let v = validity(106_752).unwrap_or_default();
        let (_, body, _) = der::split(&v).unwrap_or_default();
        let (_, _, rest) = der::split(body).unwrap_or_default();
        let (tag, end, _) = der::split(rest).unwrap_or_default();
        assert_eq!(tag, 0x18);
        assert!(end.starts_with(b"17"));
    }
}
