//! Request and response signatures of the Tablestore API: v2 (HMAC-SHA1 keyed by the
//! AccessKey secret) and v4 (HMAC-SHA256 keyed by a key derived from the secret, the UTC
//! date and the region). Responses are always signed with HMAC-SHA1, keyed by the secret
//! (v2) or the base64 text of the derived key (v4).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// Header carrying the v2 signature.
pub const SIGNATURE_V2: &str = "x-ots-signature";
/// Header carrying the v4 signature.
pub const SIGNATURE_V4: &str = "x-ots-signaturev4";
/// Header carrying the v4 signing date (`yyyyMMdd`, UTC).
pub const SIGN_DATE: &str = "x-ots-signdate";
/// Header carrying the v4 signing region.
pub const SIGN_REGION: &str = "x-ots-signregion";

fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The sorted `name:value\n` lines of every `x-ots-*` header except the signatures.
fn canonical_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut lines: Vec<String> = headers
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .filter(|(name, _)| name.starts_with("x-ots-") && name != SIGNATURE_V2 && name != SIGNATURE_V4)
        .map(|(name, value)| format!("{name}:{}", value.trim()))
        .collect();
    lines.sort();
    let mut out = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The v2 string to sign: `/Action`, `POST`, the (always empty) query, then the headers.
pub fn string_to_sign<'a>(action: &str, headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    format!("/{action}\nPOST\n\n{}", canonical_headers(headers))
}

/// The v2 request signature: base64(HMAC-SHA1(secret, string to sign)).
pub fn sign_v2<'a>(secret: &str, action: &str, headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    BASE64.encode(hmac_sha1(secret.as_bytes(), string_to_sign(action, headers).as_bytes()))
}

/// The v4 signing key: four HMAC-SHA256 steps over date, region, `ots` and
/// `aliyun_v4_request`, returned as its base64 text (which is itself the key).
pub fn v4_signing_key(secret: &str, sign_date: &str, region: &str) -> String {
    let k1 = hmac_sha256(format!("aliyun_v4{secret}").as_bytes(), sign_date.as_bytes());
    let k2 = hmac_sha256(&k1, region.as_bytes());
    let k3 = hmac_sha256(&k2, b"ots");
    let k4 = hmac_sha256(&k3, b"aliyun_v4_request");
    BASE64.encode(k4)
}

/// The v4 request signature over the v2 string plus the `ots` salt. The headers must
/// already include `x-ots-signdate` and `x-ots-signregion`.
pub fn sign_v4<'a>(signing_key: &str, action: &str, headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let text = format!("{}ots", string_to_sign(action, headers));
    BASE64.encode(hmac_sha256(signing_key.as_bytes(), text.as_bytes()))
}

/// The signature of a response: base64(HMAC-SHA1(key, sorted `x-ots-*` headers + `/Action`)).
/// `key` is the secret (v2) or the v4 signing key text.
pub fn response_signature<'a>(
    key: &str,
    action: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let text = format!("{}/{action}", canonical_headers(headers));
    BASE64.encode(hmac_sha1(key.as_bytes(), text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_headers() -> Vec<(&'static str, &'static str)> {
        vec![
            ("x-ots-date", "2024-08-08T03:22:47.8123Z"),
            ("x-ots-apiversion", "2015-12-31"),
            ("x-ots-accesskeyid", "credentials_test_id"),
            ("x-ots-instancename", "credentials_test"),
            ("x-ots-contentmd5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
            ("user-agent", "not signed"),
        ]
    }

    #[test]
    fn v2_test_vector() {
        assert_eq!(sign_v2("credentials_test_secret", "ListTable", vector_headers()), "A940TpusldxW4mUEOFbhrtwctoU=");
    }

    #[test]
    fn v4_test_vector() {
        let key = v4_signing_key("credentials_test_secret", "20240808", "cn-hangzhou");
        assert_eq!(key, "RNN1/s8/m45SdD+EzXlvpyGxc4Enu0RiODs1Lg+xFpo=");
        let mut headers = vector_headers();
        headers.push((SIGN_DATE, "20240808"));
        headers.push((SIGN_REGION, "cn-hangzhou"));
        assert_eq!(sign_v4(&key, "ListTable", headers), "mUSbIuIfN/JuO4/mCOaQZ72JHDc8z6gjPdBpPyAd/ac=");
    }

    #[test]
    fn response_test_vector() {
        let headers = [
            ("x-ots-contentmd5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
            ("x-ots-contenttype", "protocol buffer"),
            ("x-ots-date", "2024-08-08T03:22:48.000Z"),
            ("x-ots-requestid", "req-1"),
            ("authorization", "OTS x:y"),
        ];
        assert_eq!(response_signature("credentials_test_secret", "ListTable", headers), "SMTLYvwtTFEX+Zkko/zFOcsyktQ=");
    }

    #[test]
    fn signature_headers_are_not_signed() {
        let with = [("x-ots-date", "d"), (SIGNATURE_V2, "old")];
        assert_eq!(string_to_sign("A", with), "/A\nPOST\n\nx-ots-date:d\n");
    }
}
