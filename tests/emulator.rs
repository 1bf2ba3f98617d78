// Emulator tests over real sockets: attohttpc as the client, raw TcpStream for malformed HTTP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use attohttpc::{Method, ProxySettings, RequestBuilder};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bsn_emulator::{ClientSpec, Emulator, EmulatorConfig, Fault, FaultKind, FaultTarget, Stats};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Helpers

fn start(tweak: impl FnOnce(&mut EmulatorConfig)) -> Emulator {
    let mut config = EmulatorConfig::demo();
    tweak(&mut config);
    Emulator::start(config).expect("emulator starts")
}

fn demo() -> Emulator {
    start(|_| {})
}

/// A request that never follows redirects, ignores proxy variables and can't hang a test.
fn request(method: Method, url: &str) -> RequestBuilder {
    RequestBuilder::new(method, url)
        .follow_redirects(false)
        .proxy_settings(ProxySettings::builder().build())
        .timeout(Duration::from_secs(20))
}

struct Resp {
    status: u16,
    headers: attohttpc::header::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

fn send<B: attohttpc::body::Body>(req: RequestBuilder<B>) -> Resp {
    let resp = req.send().expect("request succeeds at the HTTP level");
    let (status, headers, reader) = resp.split();
    let mut body = Vec::new();
    let mut reader = reader;
    reader.read_to_end(&mut body).expect("body reads");
    Resp {
        status: status.as_u16(),
        headers,
        body,
    }
}

/// RFC 6749 §2.3.1: form-encode id and secret, then base64 "id:secret".
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

fn form(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// POSTs a token request with the given Authorization header (if any) and form fields.
fn token_req(emu: &Emulator, authorization: Option<&str>, fields: &[(&str, &str)]) -> Resp {
    let mut req = request(Method::POST, &emu.token_url())
        .header("Content-Type", "application/x-www-form-urlencoded");
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    send(req.text(form(fields)))
}

fn demo_auth() -> String {
    basic("demo-client", "demo-secret")
}

fn client_token(emu: &Emulator) -> String {
    let r = token_req(
        emu,
        Some(&demo_auth()),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["access_token"].as_str().unwrap().to_string()
}

/// Password grant as the demo user: (access token, refresh token).
fn login(emu: &Emulator) -> (String, String) {
    let r = token_req(
        emu,
        Some(&demo_auth()),
        &[
            ("grant_type", "password"),
            ("username", "demo@example.com"),
            ("password", "demo-password"),
        ],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    (
        j["access_token"].as_str().unwrap().to_string(),
        j["refresh_token"].as_str().unwrap().to_string(),
    )
}

fn refresh(emu: &Emulator, refresh_token: &str) -> Resp {
    token_req(
        emu,
        Some(&demo_auth()),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
}

const NETWORK_PATH: &str = "/2022/06/REST/Self/Session/Network";
const SESSION_PATH: &str = "/2022/06/REST/Self/Session";

fn put_network(emu: &Emulator, path: &str, token: &str, body: &str) -> Resp {
    send(
        request(Method::PUT, &format!("{}{path}", emu.base_url()))
            .bearer_auth(token)
            .header("Content-Type", "application/json")
            .text(body.to_string()),
    )
}

fn get_session(emu: &Emulator, path: &str, token: &str) -> Resp {
    send(request(Method::GET, &format!("{}{path}", emu.base_url())).bearer_auth(token))
}

fn http_stats(emu: &Emulator) -> Stats {
    let r = send(request(Method::GET, &format!("{}/stats", emu.base_url())));
    assert_eq!(r.status, 200);
    serde_json::from_slice(&r.body).expect("stats JSON")
}

fn admin_post(emu: &Emulator, path: &str, body: &str) -> Resp {
    send(request(Method::POST, &format!("{}{path}", emu.base_url())).text(body.to_string()))
}

/// Sends raw bytes and returns everything the server answered.
fn raw(emu: &Emulator, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", emu.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn raw_status(answer: &str) -> u16 {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

// ---------------------------------------------------------------------------------------
// Token endpoint

#[test]
fn client_credentials_success_shape() {
    let emu = demo();
    let r = token_req(
        &emu,
        Some(&demo_auth()),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let j = r.json();
    let token = j["access_token"].as_str().unwrap();
    assert!(
        token.starts_with("emu-at-") && token.len() == 7 + 32,
        "{token}"
    );
    assert_eq!(j["expires_in"], 300);
    assert_eq!(j["refresh_expires_in"], 0);
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["not-before-policy"], 0);
    assert_eq!(j["scope"], "bsn.api.main.operations bsn.api.main.devices");
    assert!(j.get("refresh_token").is_none());
    assert_ne!(client_token(&emu), token, "tokens are unique");
    let stats = emu.stats();
    assert_eq!(stats.token_requests.client_credentials, 2);
    assert_eq!(stats.tokens_issued, 2);
}

#[test]
fn basic_auth_decodes_form_encoded_specials_and_form_fields_work() {
    let (id, secret) = ("team:client one", "s:e%c r+t&=/ü");
    let emu = start(|c| {
        c.clients.push(ClientSpec {
            id: id.into(),
            secret: secret.into(),
            scope: "bsn.api.main.devices".into(),
        })
    });
    let r = token_req(
        &emu,
        Some(&basic(id, secret)),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["scope"], "bsn.api.main.devices");

    // Same credentials as form fields instead of a header.
    let r = token_req(
        &emu,
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // Without RFC 6749 encoding the '%' and '+' in the secret decode differently: refused.
    let unencoded = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    let r = token_req(
        &emu,
        Some(&unencoded),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(r.status, 401);
}

#[test]
fn bad_client_credentials_are_401_unauthorized_client() {
    let emu = demo();
    // (Authorization header, extra form fields)
    type Case<'a> = (Option<String>, &'a [(&'a str, &'a str)]);
    let cases: [Case; 5] = [
        (Some(basic("demo-client", "wrong")), &[]),
        (Some(basic("nobody", "demo-secret")), &[]),
        (Some("Basic !!!".into()), &[]),
        (None, &[]),
        (None, &[("client_id", "demo-client")]),
    ];
    for (auth, extra) in &cases {
        let mut fields = vec![("grant_type", "client_credentials")];
        fields.extend_from_slice(extra);
        let r = token_req(&emu, auth.as_deref(), &fields);
        assert_eq!(r.status, 401, "{auth:?}");
        let j = r.json();
        assert_eq!(j["error"], "unauthorized_client");
        assert_eq!(
            j["error_description"],
            "Invalid client or Invalid client credentials"
        );
    }
    let stats = emu.stats();
    assert_eq!(stats.refused.unauthorized_client, 5);
    assert_eq!(stats.token_requests.client_credentials, 5);
    assert_eq!(stats.tokens_issued, 0);
}

#[test]
fn malformed_token_requests_get_oauth_errors() {
    let emu = demo();
    let auth = demo_auth();
    let r = token_req(&emu, Some(&auth), &[]);
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"));
    let r = token_req(&emu, Some(&auth), &[("grant_type", "authorization_code")]);
    assert_eq!(
        (r.status, r.error().as_str()),
        (400, "unsupported_grant_type")
    );
    let r = token_req(
        &emu,
        Some(&auth),
        &[("grant_type", "password"), ("username", "x")],
    );
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"));
    let r = token_req(&emu, Some(&auth), &[("grant_type", "refresh_token")]);
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"));
    let dup = send(
        request(Method::POST, &emu.token_url())
            .header("Authorization", &auth)
            .text("grant_type=client_credentials&grant_type=password"),
    );
    assert_eq!((dup.status, dup.error().as_str()), (400, "invalid_request"));
    let get = send(request(Method::GET, &emu.token_url()));
    assert_eq!(get.status, 405);
    assert_eq!(get.header("allow").as_deref(), Some("POST"));

    let stats = emu.stats();
    assert_eq!(stats.refused.invalid_request, 4);
    assert_eq!(stats.refused.unsupported_grant_type, 1);
    // Only requests with a known grant_type count as well-formed token requests.
    assert_eq!(stats.token_requests.password, 1);
    assert_eq!(stats.token_requests.refresh_token, 1);
    assert_eq!(stats.token_requests.client_credentials, 0);
}

#[test]
fn password_grant_success_and_bad_password() {
    let emu = demo();
    let r = token_req(
        &emu,
        Some(&demo_auth()),
        &[
            ("grant_type", "password"),
            ("username", "demo@example.com"),
            ("password", "demo-password"),
        ],
    );
    assert_eq!(r.status, 200);
    let j = r.json();
    assert!(j["access_token"].as_str().unwrap().starts_with("emu-at-"));
    assert!(j["refresh_token"].as_str().unwrap().starts_with("emu-rt-"));
    assert_eq!(j["expires_in"], 300);
    assert_eq!(j["refresh_expires_in"], 1800);
    assert!(!j["session_state"].as_str().unwrap().is_empty());
    assert_eq!(j["token_type"], "Bearer");

    let r = token_req(
        &emu,
        Some(&demo_auth()),
        &[
            ("grant_type", "password"),
            ("username", "demo@example.com"),
            ("password", "nope"),
        ],
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_grant");
    assert_eq!(r.json()["error_description"], "Invalid user credentials");
    let stats = emu.stats();
    assert_eq!(stats.token_requests.password, 2);
    assert_eq!(stats.refused.invalid_grant, 1);
}

#[test]
fn refresh_rotates_and_reuse_ends_the_session() {
    let emu = demo();
    let (access0, rt1) = login(&emu);
    assert_eq!(
        put_network(&emu, NETWORK_PATH, &access0, r#"{"name":"Lobby"}"#).status,
        204
    );

    let r = refresh(&emu, &rt1);
    assert_eq!(r.status, 200);
    let j = r.json();
    let access1 = j["access_token"].as_str().unwrap().to_string();
    let rt2 = j["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    assert_ne!(access0, access1);
    // The network belongs to the session, so the refreshed token still has it.
    let s = get_session(&emu, SESSION_PATH, &access1);
    assert_eq!(s.status, 200);
    assert_eq!(s.json()["network"], json!({"id": 2, "name": "Lobby"}));
    assert_eq!(s.json()["user"], json!({"login": "demo@example.com"}));

    // Reusing rt1: refused, and the whole session is gone.
    let r = refresh(&emu, &rt1);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_grant");
    assert_eq!(
        r.json()["error_description"],
        "Maximum allowed refresh token reuse exceeded"
    );
    let r = refresh(&emu, &rt2);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error_description"], "Session not active");
    assert_eq!(get_session(&emu, SESSION_PATH, &access1).status, 410);
    assert_eq!(
        put_network(&emu, NETWORK_PATH, &access1, r#"{"id":1}"#).status,
        410
    );

    let stats = http_stats(&emu);
    assert_eq!(stats.refresh_tokens_reused, 1);
    assert_eq!(stats.sessions_ended_by_reuse, 1);
    assert_eq!(stats.token_requests.refresh_token, 3);
    assert_eq!(stats.refused.invalid_grant, 2);
    assert_eq!(stats, emu.stats());
}

#[test]
fn refresh_token_errors() {
    let emu = start(|c| {
        c.clients.push(ClientSpec {
            id: "other".into(),
            secret: "other-secret".into(),
            scope: "x".into(),
        })
    });
    let r = refresh(&emu, "emu-rt-doesnotexist");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error_description"], "Invalid refresh token");
    // A refresh token only works for the client it was issued to (and isn't consumed).
    let (_, rt) = login(&emu);
    let r = token_req(
        &emu,
        Some(&basic("other", "other-secret")),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_grant");
    assert_eq!(refresh(&emu, &rt).status, 200);
}

#[test]
fn refresh_token_never_outlives_the_session() {
    let emu = start(|c| c.session_ttl = 2);
    let (access, rt) = login(&emu);
    let r = refresh(&emu, &rt);
    assert_eq!(r.status, 200);
    let expires = r.json()["refresh_expires_in"].as_u64().unwrap();
    assert!(
        expires <= 2,
        "refresh_expires_in {expires} exceeds the session"
    );
    let rt2 = r.json()["refresh_token"].as_str().unwrap().to_string();

    thread::sleep(Duration::from_millis(2200));
    let r = refresh(&emu, &rt2);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_grant");
    assert_eq!(r.json()["error_description"], "Session not active");
    // The access token itself (ttl 300) is unexpired but its session is over: 410.
    assert_eq!(get_session(&emu, SESSION_PATH, &access).status, 410);
}

#[test]
fn end_sessions_via_api_and_admin_endpoint() {
    let emu = demo();
    let client = client_token(&emu);
    let (access, rt) = login(&emu);
    emu.end_sessions();
    assert_eq!(get_session(&emu, SESSION_PATH, &access).status, 410);
    assert_eq!(
        refresh(&emu, &rt).json()["error_description"],
        "Session not active"
    );
    // Client-credentials tokens have no session and are unaffected.
    assert_eq!(get_session(&emu, SESSION_PATH, &client).status, 200);

    let (access, _) = login(&emu);
    assert_eq!(get_session(&emu, SESSION_PATH, &access).status, 200);
    assert_eq!(admin_post(&emu, "/admin/end-sessions", "").status, 204);
    assert_eq!(get_session(&emu, SESSION_PATH, &access).status, 410);
}

#[test]
fn access_token_expires() {
    let emu = start(|c| c.access_ttl = 1);
    let token = client_token(&emu);
    assert_eq!(get_session(&emu, SESSION_PATH, &token).status, 200);
    thread::sleep(Duration::from_millis(1200));
    let r = get_session(&emu, SESSION_PATH, &token);
    assert_eq!(r.status, 401);
    assert_eq!(r.error(), "unauthorized");
    assert_eq!(
        put_network(&emu, NETWORK_PATH, &token, r#"{"id":1}"#).status,
        401
    );
    let stats = emu.stats();
    assert_eq!(stats.api_calls, 3);
    assert_eq!(stats.api_unauthorized, 2);
    assert_eq!(stats.active_tokens, 0);
    assert_eq!(stats.max_active_tokens, 1);
}

// ---------------------------------------------------------------------------------------
// BSN REST surface

#[test]
fn network_selection_by_name_and_id() {
    let emu = demo();
    let token = client_token(&emu);
    let s = get_session(&emu, SESSION_PATH, &token);
    assert_eq!(s.status, 200);
    assert_eq!(
        s.json(),
        json!({
            "network": null,
            "authorizationScope": "bsn.api.main.operations bsn.api.main.devices",
            "user": null
        })
    );

    let r = put_network(&emu, NETWORK_PATH, &token, r#"{"name":"Demo"}"#);
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    let s = get_session(&emu, SESSION_PATH, &token);
    assert_eq!(s.json()["network"], json!({"id": 1, "name": "Demo"}));

    assert_eq!(
        put_network(&emu, NETWORK_PATH, &token, r#"{"id":2}"#).status,
        204
    );
    let s = get_session(&emu, SESSION_PATH, &token);
    assert_eq!(s.json()["network"], json!({"id": 2, "name": "Lobby"}));

    // Another token has its own (unset) network.
    let other = client_token(&emu);
    assert_eq!(
        get_session(&emu, SESSION_PATH, &other).json()["network"],
        Value::Null
    );

    for bad in [
        r#"{"name":"Nope"}"#,
        r#"{"id":99}"#,
        r#"{"id":"1"}"#,
        "{}",
        "{not json",
        "",
    ] {
        let r = put_network(&emu, NETWORK_PATH, &token, bad);
        assert_eq!(r.status, 400, "body {bad:?}");
    }
    let stats = emu.stats();
    assert_eq!(stats.network_selections, 2);
    assert_eq!(stats.api_calls, 6 + 6);
    assert_eq!(stats.api_unauthorized, 0);
}

#[test]
fn rest_paths_are_case_insensitive_and_versioned() {
    let emu = demo();
    let token = client_token(&emu);
    for path in [
        "/2022/06/rest/self/session/network",
        "/2022/06/REST/SELF/SESSION/NETWORK",
        "/2020/10/REST/Self/Session/Network/",
    ] {
        assert_eq!(
            put_network(&emu, path, &token, r#"{"name":"Demo"}"#).status,
            204,
            "{path}"
        );
    }
    for path in ["/2022/06/rest/self/session", "/2020/10/REST/Self/Session"] {
        let r = get_session(&emu, path, &token);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.json()["network"]["name"], "Demo");
    }
    assert_eq!(
        get_session(&emu, "/2019/01/REST/Self/Session", &token).status,
        404
    );
    // Wrong method on a known resource.
    let r = send(
        request(Method::DELETE, &format!("{}{SESSION_PATH}", emu.base_url())).bearer_auth(&token),
    );
    assert_eq!(r.status, 405);
}

#[test]
fn rest_rejects_missing_and_unknown_tokens() {
    let emu = demo();
    let r = send(request(
        Method::GET,
        &format!("{}{SESSION_PATH}", emu.base_url()),
    ));
    assert_eq!(r.status, 401);
    assert_eq!(get_session(&emu, SESSION_PATH, "emu-at-forged").status, 401);
    let basic_auth = send(
        request(Method::GET, &format!("{}{SESSION_PATH}", emu.base_url()))
            .header("Authorization", demo_auth()),
    );
    assert_eq!(basic_auth.status, 401);
    let stats = emu.stats();
    assert_eq!((stats.api_calls, stats.api_unauthorized), (3, 3));
}

#[test]
fn unknown_paths_are_404_json() {
    let emu = demo();
    let r = send(request(Method::GET, &format!("{}/nope", emu.base_url())));
    assert_eq!(r.status, 404);
    assert_eq!(r.error(), "not_found");
    // The token path is case-sensitive, like Keycloak's realm paths.
    let r = send(request(
        Method::POST,
        &format!(
            "{}/realms/BSNCLOUD/protocol/openid-connect/token",
            emu.base_url()
        ),
    ));
    assert_eq!(r.status, 404);
}

// ---------------------------------------------------------------------------------------
// Accounting and the per-client cap

#[test]
fn stats_track_peak_active_tokens_and_reset() {
    let emu = start(|c| {
        c.clients.push(ClientSpec {
            id: "b".into(),
            secret: "b".into(),
            scope: "s".into(),
        })
    });
    for _ in 0..3 {
        client_token(&emu);
    }
    let r = token_req(
        &emu,
        Some(&basic("b", "b")),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(r.status, 200);
    let stats = http_stats(&emu);
    assert_eq!(stats.tokens_issued, 4);
    // Field order on the wire follows the struct, so the JSON reads top-down.
    let raw_stats = send(request(Method::GET, &format!("{}/stats", emu.base_url())));
    assert!(
        raw_stats
            .body
            .starts_with(br#"{"token_requests":{"client_credentials":4,"password":0"#),
        "{}",
        String::from_utf8_lossy(&raw_stats.body)
    );
    assert_eq!(
        stats.max_active_tokens, 3,
        "peak is per client, not the total"
    );
    assert_eq!(stats.active_tokens, 3);

    assert_eq!(admin_post(&emu, "/admin/reset-stats", "").status, 204);
    let stats = emu.stats();
    assert_eq!(stats.tokens_issued, 0);
    assert_eq!(stats.max_active_tokens, 0);
    assert_eq!(stats.token_requests.client_credentials, 0);
    // active_tokens is a live reading, not a counter: the tokens still exist.
    assert_eq!(stats.active_tokens, 3);
    let wrong_method = send(request(
        Method::GET,
        &format!("{}/admin/reset-stats", emu.base_url()),
    ));
    assert_eq!(wrong_method.status, 405);
}

#[test]
fn max_active_cap_answers_429_and_frees_up_on_expiry() {
    let emu = start(|c| {
        c.max_active = Some(2);
        c.access_ttl = 1;
    });
    client_token(&emu);
    let (_, rt) = login(&emu);
    let r = token_req(
        &emu,
        Some(&demo_auth()),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    assert_eq!(r.error(), "too_many_active_tokens");
    // A refresh at the cap is refused too, without consuming the refresh token.
    let r = refresh(&emu, &rt);
    assert_eq!(r.status, 429);

    thread::sleep(Duration::from_millis(1100));
    assert_eq!(refresh(&emu, &rt).status, 200, "refresh token still usable");
    client_token(&emu);
    let stats = emu.stats();
    assert_eq!(stats.refused.too_many_active_tokens, 2);
    assert_eq!(stats.max_active_tokens, 2);
    assert_eq!(stats.refresh_tokens_reused, 0);
}

#[test]
fn concurrent_requests_each_get_a_unique_token() {
    let emu = demo();
    let tokens: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| client_token(&emu))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let unique: std::collections::HashSet<_> = tokens.iter().collect();
    assert_eq!(unique.len(), 8);
    let stats = emu.stats();
    assert_eq!(stats.tokens_issued, 8);
    assert_eq!(stats.max_active_tokens, 8);
}

// ---------------------------------------------------------------------------------------
// Faults

fn cc(emu: &Emulator) -> attohttpc::Result<attohttpc::Response> {
    request(Method::POST, &emu.token_url())
        .header("Authorization", demo_auth())
        .text("grant_type=client_credentials")
        .send()
}

#[test]
fn fault_server_error_then_recovery() {
    let emu = demo();
    emu.inject(Fault::new(FaultKind::ServerError));
    let r = send(
        request(Method::POST, &emu.token_url())
            .header("Authorization", demo_auth())
            .text("grant_type=client_credentials"),
    );
    assert_eq!(r.status, 503);
    assert!(String::from_utf8_lossy(&r.body).contains("<html>"));
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    client_token(&emu);
    let stats = emu.stats();
    assert_eq!(stats.faults_served, 1);
    // The faulted request was not processed.
    assert_eq!(stats.token_requests.client_credentials, 1);
    assert_eq!(stats.tokens_issued, 1);
}

#[test]
fn fault_rate_limited_has_retry_after() {
    let emu = demo();
    emu.inject(Fault::new(FaultKind::RateLimited).retry_after(7).count(2));
    for _ in 0..2 {
        let r = send(request(Method::POST, &emu.token_url()).text("grant_type=client_credentials"));
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after").as_deref(), Some("7"));
        assert_eq!(r.error(), "rate_limited");
    }
    client_token(&emu);
    assert_eq!(emu.stats().faults_served, 2);
}

#[test]
fn fault_truncated_json_is_short_of_its_content_length() {
    let emu = demo();
    emu.inject(Fault::new(FaultKind::TruncatedJson));
    let resp = cc(&emu).expect("head arrives");
    assert_eq!(resp.status().as_u16(), 200);
    let declared: usize = resp.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let (_, _, mut reader) = resp.split();
    let mut body = Vec::new();
    match reader.read_to_end(&mut body) {
        Err(_) => {} // a client may report the early EOF as an error…
        Ok(_) => {
            // …or hand back a short body that isn't valid JSON.
            assert!(body.len() < declared, "{} < {declared}", body.len());
            assert!(!body.is_empty());
            assert!(serde_json::from_slice::<Value>(&body).is_err());
        }
    }
    assert_eq!(emu.stats().faults_served, 1);
}

#[test]
fn fault_slow_delays_then_answers_normally() {
    let emu = demo();
    emu.inject(Fault::new(FaultKind::Slow).delay_ms(400));
    let started = Instant::now();
    let token = client_token(&emu);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert!(token.starts_with("emu-at-"));
    let stats = emu.stats();
    assert_eq!(stats.faults_served, 1);
    assert_eq!(stats.tokens_issued, 1, "slow requests are processed");
}

#[test]
fn fault_drop_closes_without_response() {
    let emu = demo();
    emu.inject(Fault::new(FaultKind::Drop));
    assert!(cc(&emu).is_err(), "client sees a closed connection");
    // Same thing seen raw: zero bytes back.
    emu.inject(Fault::new(FaultKind::Drop));
    let body = "grant_type=client_credentials";
    let answer = raw(
        &emu,
        format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            "/realms/bsncloud/protocol/openid-connect/token",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(answer, "");
    assert_eq!(emu.stats().faults_served, 2);
    client_token(&emu);
}

#[test]
fn fault_oversized_sends_over_8_mib() {
    let emu = demo();
    emu.inject(Fault::new(FaultKind::Oversized));
    let r = send(
        request(Method::POST, &emu.token_url())
            .header("Authorization", demo_auth())
            .text("grant_type=client_credentials"),
    );
    assert_eq!(r.status, 200);
    assert!(r.body.len() >= 8 * 1024 * 1024, "{}", r.body.len());
    assert_eq!(emu.stats().faults_served, 1);
}

#[test]
fn fault_garbage_is_not_json() {
    let emu = demo();
    emu.inject(Fault::new(FaultKind::Garbage));
    let r = send(request(Method::POST, &emu.token_url()).text("grant_type=client_credentials"));
    assert_eq!(r.status, 200);
    assert!(!r.body.is_empty());
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
}

#[test]
fn fault_targets_and_fifo_order() {
    let emu = demo();
    let token = client_token(&emu);
    emu.inject(Fault::new(FaultKind::ServerError).target(FaultTarget::Api));
    emu.inject(Fault::new(FaultKind::Garbage));
    emu.inject(Fault::new(FaultKind::RateLimited).target(FaultTarget::Any));

    // Token request: skips the api-only fault, takes the garbage one.
    let r = send(request(Method::POST, &emu.token_url()).text(""));
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    // /stats and admin endpoints are never faulted.
    assert_eq!(http_stats(&emu).faults_served, 1);
    // API request: the api fault came first.
    assert_eq!(get_session(&emu, SESSION_PATH, &token).status, 503);
    // Then the "any" fault, on the API too.
    assert_eq!(get_session(&emu, SESSION_PATH, &token).status, 429);
    assert_eq!(get_session(&emu, SESSION_PATH, &token).status, 200);
    let stats = emu.stats();
    assert_eq!(stats.faults_served, 3);
    assert_eq!(stats.api_calls, 1, "faulted API requests are not processed");
}

#[test]
fn faults_over_http_admin_endpoint() {
    let emu = demo();
    let r = admin_post(
        &emu,
        "/admin/faults",
        r#"{"kind":"server_error","count":2}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"queued": 2}));
    let r = admin_post(
        &emu,
        "/admin/faults",
        r#"{"kind":"slow","delay_ms":10,"target":"api"}"#,
    );
    assert_eq!(r.json(), json!({"queued": 3}));
    for bad in [
        r#"{"kind":"explode"}"#,
        r#"{"kind":"drop","target":"everything"}"#,
        r#"{"kind":"drop","count":0}"#,
        r#"{"kind":"drop","cuont":2}"#,
        "not json",
    ] {
        let r = admin_post(&emu, "/admin/faults", bad);
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.error(), "invalid_fault");
    }
    assert_eq!(cc(&emu).unwrap().status().as_u16(), 503);
    assert_eq!(cc(&emu).unwrap().status().as_u16(), 503);
    assert_eq!(cc(&emu).unwrap().status().as_u16(), 200);
    // The JSON shape round-trips through the public type.
    let f: Fault =
        serde_json::from_value(json!({"kind":"slow","delay_ms":10,"target":"api"})).unwrap();
    assert_eq!(
        serde_json::to_value(&f).unwrap(),
        json!({"kind":"slow","count":1,"target":"api","retry_after":1,"delay_ms":10})
    );
}

// ---------------------------------------------------------------------------------------
// Malformed HTTP never kills the server

#[test]
fn malformed_requests_get_4xx_and_server_survives() {
    let emu = demo();
    assert_eq!(raw_status(&raw(&emu, b"hello there\r\n\r\n")), 400);
    assert_eq!(raw_status(&raw(&emu, b"\x00\x01\x02\xff\r\n\r\n")), 400);
    assert_eq!(raw_status(&raw(&emu, b"GET /stats HTTP/9.9\r\n\r\n")), 505);
    assert_eq!(
        raw_status(&raw(&emu, b"GET /stats HTTP/1.1\r\nbroken header\r\n\r\n")),
        400
    );
    // Declared too large: refused before reading it.
    assert_eq!(
        raw_status(&raw(
            &emu,
            b"POST /realms/bsncloud/protocol/openid-connect/token HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n"
        )),
        413
    );
    // Actually sent too large.
    let mut big = format!(
        "POST /realms/bsncloud/protocol/openid-connect/token HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        100 * 1024
    )
    .into_bytes();
    big.extend(std::iter::repeat_n(b'a', 100 * 1024));
    assert_eq!(raw_status(&raw(&emu, &big)), 413);
    // Head too large.
    let mut huge_head = b"GET /stats HTTP/1.1\r\nX-Filler: ".to_vec();
    huge_head.extend(std::iter::repeat_n(b'a', 20 * 1024));
    huge_head.extend(b"\r\n\r\n");
    assert_eq!(raw_status(&raw(&emu, &huge_head)), 431);
    // Chunked uploads are not supported.
    assert_eq!(
        raw_status(&raw(
            &emu,
            b"POST /admin/faults HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )),
        411
    );
    // Body shorter than announced, then the client half-closes.
    {
        let mut s = TcpStream::connect(("127.0.0.1", emu.port())).unwrap();
        s.write_all(b"POST /admin/faults HTTP/1.1\r\nContent-Length: 50\r\n\r\n{")
            .unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert_eq!(raw_status(&out), 400);
    }
    // A client that connects and leaves without a byte.
    drop(TcpStream::connect(("127.0.0.1", emu.port())).unwrap());
    // Bad JSON bodies on JSON endpoints.
    let token = client_token(&emu);
    assert_eq!(
        put_network(&emu, NETWORK_PATH, &token, "\u{0}{{{").status,
        400
    );
    assert_eq!(admin_post(&emu, "/admin/faults", "[[[").status, 400);

    // Still serving normally, and bare-newline requests work too.
    client_token(&emu);
    let answer = raw(&emu, b"GET /stats HTTP/1.0\n\n");
    assert_eq!(raw_status(&answer), 200);
    assert!(answer.contains("Connection: close"));
    assert!(answer.contains("\"tokens_issued\":2"), "{answer}");
}

#[test]
fn a_silent_client_does_not_block_others() {
    let emu = demo();
    let mut silent = TcpStream::connect(("127.0.0.1", emu.port())).unwrap();
    silent.write_all(b"POST /realms/bsncloud").unwrap();
    let started = Instant::now();
    client_token(&emu);
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(silent);
}

// ---------------------------------------------------------------------------------------
// Lifecycle and configuration

#[test]
fn stop_releases_the_port() {
    let emu = demo();
    let port = emu.port();
    assert!(port != 0);
    assert_eq!(emu.base_url(), format!("http://127.0.0.1:{port}"));
    assert_eq!(
        emu.token_url(),
        format!("http://127.0.0.1:{port}/realms/bsncloud/protocol/openid-connect/token")
    );
    client_token(&emu);
    let started = Instant::now();
    emu.stop();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn banner_has_copy_pasteable_exports() {
    let emu = demo();
    let banner = emu.banner();
    for line in [
        format!("export BSN_TOKEN_URL={}", emu.token_url()),
        format!("export BSN_API_URL={}", emu.base_url()),
        "export BSN_CLIENT_ID=demo-client".to_string(),
        "export BSN_CLIENT_SECRET=demo-secret".to_string(),
        "export BSN_NETWORK=Demo".to_string(),
        format!("{}/stats", emu.base_url()),
    ] {
        assert!(banner.contains(&line), "missing {line:?} in:\n{banner}");
    }
}

#[test]
fn load_toml_reads_a_file_and_reports_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("emulator.toml");
    std::fs::write(
        &good,
        r#"
access_ttl = 2
max_active = 5

[[clients]]
id = "ci"
secret = "ci-secret"
scope = "bsn.api.main.devices"

[[networks]]
id = 7
name = "Stage"
"#,
    )
    .unwrap();
    let config = EmulatorConfig::load_toml(&good).unwrap();
    assert_eq!(config.access_ttl, 2);
    assert_eq!(config.refresh_ttl, 1800);
    assert_eq!(config.max_active, Some(5));
    assert_eq!(config.clients.len(), 1);
    assert_eq!(config.clients[0].id, "ci");
    assert_eq!(config.networks[0].name, "Stage");
    assert_eq!(
        config.users,
        EmulatorConfig::demo().users,
        "missing list falls back"
    );

    // And the loaded config really serves.
    let emu = Emulator::start(EmulatorConfig { port: 0, ..config }).unwrap();
    let r = token_req(
        &emu,
        Some(&basic("ci", "ci-secret")),
        &[("grant_type", "client_credentials")],
    );
    assert_eq!(r.json()["expires_in"], 2);

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "access_ttl = 2\n\nrefresh_ttl = \"soon\"\n").unwrap();
    let err = EmulatorConfig::load_toml(&bad).unwrap_err();
    assert!(err.contains("bad.toml"), "{err}");
    assert!(err.contains("line 3"), "{err}");

    let err = EmulatorConfig::load_toml(&dir.path().join("missing.toml")).unwrap_err();
    assert!(err.contains("missing.toml"), "{err}");
}
