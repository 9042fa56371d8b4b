//! Building MaxCompute requests: the V2 signature (`Authorization: ODPS id:sig`), query
//! strings (percent-encoded on the wire, signed decoded), RFC 1123 dates, the STS token
//! header, the SQL instance that adds a partition, and error bodies in JSON or XML.

use std::time::SystemTime;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha1::Sha1;

/// Access key pair, with the security token of an STS account.
#[derive(Clone)]
pub struct Credentials {
    /// `access_id`.
    pub access_id: String,
    /// `access_key` (the secret).
    pub access_key: String,
    /// STS security token, sent as `authorization-sts-token` (not signed).
    pub sts_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("access_id", &self.access_id).finish_non_exhaustive()
    }
}

/// The parts of a request that are signed.
#[derive(Debug)]
pub struct SignedParts<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// `Content-MD5` header, if sent.
    pub content_md5: &'a str,
    /// `Content-Type` header exactly as sent ("" when none).
    pub content_type: &'a str,
    /// `Date` header.
    pub date: &'a str,
    /// Headers; only `x-odps-*` ones are signed.
    pub headers: &'a [(&'a str, String)],
    /// Path relative to the endpoint (`/projects/p/tables/t`).
    pub resource: &'a str,
    /// Decoded query parameters; an empty value is a bare key.
    pub query: &'a [(&'a str, String)],
}

/// The string to sign: method, MD5, type, date, sorted `x-odps-*` headers, then the
/// canonical resource with sorted, decoded query parameters (no trailing newline).
pub fn string_to_sign(parts: &SignedParts<'_>) -> String {
    let mut out = format!("{}\n{}\n{}\n{}\n", parts.method, parts.content_md5, parts.content_type, parts.date);
    let mut odps: Vec<(String, &str)> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .filter(|(k, _)| k.starts_with("x-odps-"))
        .collect();
    odps.sort();
    for (k, v) in odps {
        out.push_str(&format!("{k}:{v}\n"));
    }
    out.push_str(parts.resource);
    if !parts.query.is_empty() {
        let mut query: Vec<&(&str, String)> = parts.query.iter().collect();
        query.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let items: Vec<String> =
            query.iter().map(|(k, v)| if v.is_empty() { k.to_string() } else { format!("{k}={v}") }).collect();
        out.push('?');
        out.push_str(&items.join("&"));
    }
    out
}

/// `ODPS <access_id>:<base64(HMAC-SHA1(access_key, string_to_sign))>`.
pub fn authorization(credentials: &Credentials, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(credentials.access_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("ODPS {}:{signature}", credentials.access_id)
}

/// Characters left as they are in query keys and values (RFC 3986 unreserved).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The query string as sent: values percent-encoded (space as `%20`), bare keys without `=`.
pub fn query_string(query: &[(&str, String)]) -> String {
    let items: Vec<String> = query
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                utf8_percent_encode(k, QUERY).to_string()
            } else {
                format!("{}={}", utf8_percent_encode(k, QUERY), utf8_percent_encode(v, QUERY))
            }
        })
        .collect();
    items.join("&")
}

/// An RFC 1123 date in GMT (`Tue, 17 Nov 2020 07:00:00 GMT`).
pub fn http_date(at: SystemTime) -> String {
    httpdate::fmt_http_date(at)
}

/// A service error: status, code, message and request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// HTTP status.
    pub status: u16,
    /// `Code` (empty when the body had none).
    pub code: String,
    /// `Message` (or the body's text).
    pub message: String,
    /// `RequestId` or the `x-odps-request-id` header.
    pub request_id: String,
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if !self.request_id.is_empty() {
            write!(f, " (request id {})", self.request_id)?;
        }
        Ok(())
    }
}

/// Reads an error body: JSON `{"Code","Message","RequestId"}` (tunnel) or XML `<Error>`
/// (service); anything else becomes the message.
pub fn parse_error(status: u16, body: &[u8], request_id_header: Option<&str>) -> ServiceError {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    let (code, message, request_id) = if trimmed.starts_with('{') {
        match serde_json::from_str::<serde_json::Value>(trimmed) {
            Ok(json) => {
                let field = |k: &str| json.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
                (field("Code"), field("Message"), field("RequestId"))
            }
            Err(_) => (String::new(), trimmed.to_string(), String::new()),
        }
    } else if trimmed.starts_with('<') {
        (
            xml_text(trimmed, "Code").unwrap_or_default(),
            xml_text(trimmed, "Message").unwrap_or_default(),
            xml_text(trimmed, "RequestId").unwrap_or_default(),
        )
    } else {
        (String::new(), trimmed.chars().take(500).collect(), String::new())
    };
    let request_id = if request_id.is_empty() { request_id_header.unwrap_or("").to_string() } else { request_id };
    ServiceError { status, code, message, request_id }
}

/// The text of the first `<tag>` element (CDATA unwrapped, entities decoded).
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let inner = xml[start..end].trim();
    Some(match inner.strip_prefix("<![CDATA[").and_then(|s| s.strip_suffix("]]>")) {
        Some(raw) => raw.to_string(),
        None => inner
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    })
}

/// The XML body of an SQL instance running `ALTER TABLE … ADD IF NOT EXISTS PARTITION`.
pub fn add_partition_instance(project: &str, table: &str, spec: &[(String, String)], uuid: &str) -> String {
    let partition: Vec<String> =
        spec.iter().map(|(k, v)| format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))).collect();
    let query = format!("ALTER TABLE {project}.{table} ADD IF NOT EXISTS PARTITION ({});", partition.join(","));
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Instance><Job><Priority>9</Priority><Tasks><SQL>\
         <Name>SQLAddPartitionTask</Name><Config><Property><Name>settings</Name>\
         <Value>{{\"odps.sql.submit.mode\": \"\"}}</Value></Property><Property><Name>uuid</Name>\
         <Value>{uuid}</Value></Property></Config><Query><![CDATA[{}]]></Query></SQL></Tasks>\
         <DAG><RunMode>Sequence</RunMode></DAG></Job></Instance>",
        query.replace("]]>", "]]]]><![CDATA[>")
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn string_to_sign_matches_the_reference_example() {
        let headers = [
            ("x-odps-user-agent", "ua".to_string()),
            ("X-ODPS-Tunnel-Version", "6".to_string()),
            ("odps-tunnel-date-transform", "v1".to_string()),
        ];
        let query = [
            ("uploadid", "U1".to_string()),
            ("blockid", "0".to_string()),
            ("partition", "pt=11-17-2020 15".to_string()),
            ("arrow", String::new()),
            ("curr_project", "p1".to_string()),
        ];
        let parts = SignedParts {
            method: "PUT",
            content_md5: "",
            content_type: "application/octet-stream",
            date: "Tue, 17 Nov 2020 07:00:00 GMT",
            headers: &headers,
            resource: "/projects/p1/tables/t1",
            query: &query,
        };
        assert_eq!(
            string_to_sign(&parts),
            "PUT\n\napplication/octet-stream\nTue, 17 Nov 2020 07:00:00 GMT\nx-odps-tunnel-version:6\n\
             x-odps-user-agent:ua\n/projects/p1/tables/t1?arrow&blockid=0&curr_project=p1&partition=pt=11-17-2020 15&uploadid=U1"
        );
    }

    #[test]
    fn authorization_is_base64_hmac_sha1() {
        // HMAC-SHA1("key", "The quick brown fox jumps over the lazy dog") = de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9
        let credentials = Credentials { access_id: "AK".into(), access_key: "key".into(), sts_token: None };
        assert_eq!(
            authorization(&credentials, "The quick brown fox jumps over the lazy dog"),
            "ODPS AK:3nybhbi3iqa8ino29wqQcBydtNk="
        );
    }

    #[test]
    fn signature_matches_pyodps() {
        // Computed with pyodps 0.13.2 `CloudAccount("LTAIid", "secret").sign_request` for
        // POST {endpoint}/projects/connector_test/tables/test_kafka?uploads&partition=pt%3D11-17-2020%2015&create_partition=true
        // with endpoint http://service.cn-hangzhou.maxcompute.aliyun.com/api.
        let headers = [("x-odps-tunnel-version", "6".to_string())];
        let query = [
            ("uploads", String::new()),
            ("partition", "pt=11-17-2020 15".to_string()),
            ("create_partition", "true".to_string()),
        ];
        let parts = SignedParts {
            method: "POST",
            content_md5: "",
            content_type: "",
            date: "Tue, 17 Nov 2020 07:00:00 GMT",
            headers: &headers,
            resource: "/projects/connector_test/tables/test_kafka",
            query: &query,
        };
        let credentials = Credentials { access_id: "LTAIid".into(), access_key: "secret".into(), sts_token: None };
        assert_eq!(authorization(&credentials, &string_to_sign(&parts)), "ODPS LTAIid:/TjKu5CRzv/ctj9NrYgzaUKvN/s=");
    }

    #[test]
    fn query_values_are_encoded_on_the_wire() {
        let query = [("uploads", String::new()), ("partition", "pt=11-17-2020 15".to_string())];
        assert_eq!(query_string(&query), "uploads&partition=pt%3D11-17-2020%2015");
    }

    #[test]
    fn dates_are_rfc_1123_gmt() {
        assert_eq!(http_date(UNIX_EPOCH + Duration::from_secs(1_605_596_400)), "Tue, 17 Nov 2020 07:00:00 GMT");
    }

    #[test]
    fn error_bodies_in_json_and_xml() {
        let json = parse_error(404, br#"{"Code":"NoSuchPartition","Message":"no pt","RequestId":"R1"}"#, None);
        assert_eq!(
            (json.code.as_str(), json.message.as_str(), json.request_id.as_str()),
            ("NoSuchPartition", "no pt", "R1")
        );
        let xml = parse_error(
            403,
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureNotMatch</Code><Message><![CDATA[bad sig]]></Message><RequestId>R2</RequestId><HostId>h</HostId></Error>",
            Some("H"),
        );
        assert_eq!(
            (xml.code.as_str(), xml.message.as_str(), xml.request_id.as_str()),
            ("SignatureNotMatch", "bad sig", "R2")
        );
        let text = parse_error(502, b"Bad Gateway", Some("H"));
        assert_eq!((text.message.as_str(), text.request_id.as_str()), ("Bad Gateway", "H"));
        assert!(text.to_string().contains("HTTP 502"));
    }

    #[test]
    fn partition_sql_escapes_quotes() {
        let xml = add_partition_instance("p1", "t1", &[("pt".into(), "it's".into())], "u");
        assert!(xml.contains("ALTER TABLE p1.t1 ADD IF NOT EXISTS PARTITION (pt='it\\'s');"), "{xml}");
    }
}
