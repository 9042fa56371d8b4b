//! The status page, `GET /ui`: one self-contained HTML page (no external scripts, styles or
//! fonts; the machine it runs on may have no internet) showing every connector's state,
//! totals, records/s in and out and lag over the sampled history as inline SVG charts, and
//! its last failed records. The data is embedded in the page, so it renders at once, then
//! refreshed from `GET /ui/data` every sample interval.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::Api;

/// The page, with `__INITIAL__` standing for the embedded data.
const PAGE: &str = include_str!("ui.html");

/// `GET /ui`.
pub(super) async fn page(State(api): State<Api>) -> Response {
    let data = api.history.snapshot(&api.worker).to_string();
    let html = PAGE.replacen("__INITIAL__", &embeddable(&data), 1);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

/// JSON made safe inside a `<script>` element: no `<` (so no `</script>`) and no `&`.
fn embeddable(json: &str) -> String {
    json.replace('<', "\\u003c").replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_json_cannot_close_the_script() {
        let json = serde_json::json!({"name": "</script><b>&"}).to_string();
        let safe = super::embeddable(&json);
        assert!(!safe.contains('<') && !safe.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["name"], "</script><b>&");
    }
}
