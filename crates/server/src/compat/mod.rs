//! What the ownCloud and Nextcloud clients ask before they sync: `status.php` and the
//! OCS `cloud/capabilities` and `cloud/user` endpoints (v1 and v2). The answers follow
//! `reference/client-protocol.md` §1.4: ownCloud 10.11 as the advertised version (the
//! clients warn below 10.0), chunking NG announced, no TUS and no bulk upload (not
//! implemented, and the clients would prefer them).

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::web::AppState;
use crate::web::basic::{BasicUser, challenge, credentials};

const VERSION: &str = "10.11.0.0";
const VERSION_STRING: &str = "10.11.0";

fn status_info() -> Value {
    json!({
        "installed": true,
        "maintenance": false,
        "needsDbUpgrade": false,
        "version": VERSION,
        "versionstring": VERSION_STRING,
        "edition": "Community",
        "productname": "ownCloud",
        "product": "ownCloud",
        "extendedSupport": false,
    })
}

pub async fn status() -> Json<Value> {
    Json(status_info())
}

/// v1 says 100, v2 says 200; `statuscode` must not be the last key of `meta` (the
/// ownCloud client reads it with a regex that expects a following comma).
fn envelope(version: &str, data: Value) -> Value {
    let code = if version == "v2.php" { 200 } else { 100 };
    json!({ "ocs": { "meta": { "status": "ok", "statuscode": code, "message": "OK", "totalitems": "", "itemsperpage": "" }, "data": data } })
}

fn known_version(version: &str) -> bool {
    version == "v1.php" || version == "v2.php"
}

pub async fn capabilities(
    State(st): State<AppState>,
    Path(version): Path<String>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !known_version(&version) {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    // Capabilities are public, but credentials that are sent must be right: a client
    // with a wrong password should learn it here, not later.
    if let Some((login, secret)) = credentials(&headers)
        && st
            .app
            .authenticate_basic(&login, &secret, Some(peer.ip().to_string()))
            .await
            .is_err()
    {
        return challenge();
    }
    let max = st.app.settings.limits.max_upload_bytes;
    let data = json!({
        "version": { "major": 10, "minor": 11, "micro": 0, "string": VERSION_STRING, "edition": "Community", "product": "ownCloud" },
        "capabilities": {
            "core": { "pollinterval": 60, "webdav-root": "remote.php/webdav", "status": status_info() },
            "dav": { "chunking": "1.0" },
            "files": {
                "bigfilechunking": true,
                "blacklisted_files": [".htaccess"],
                "undelete": false,
                "versioning": false,
                "privateLinks": false,
            },
            "checksums": { "supportedTypes": ["SHA1"], "preferredUploadType": "SHA1" },
            "files_sharing": { "api_enabled": false, "public": { "enabled": false }, "resharing": false },
            "amtsbote": { "max_upload_bytes": max },
        },
    });
    Json(envelope(&version, data)).into_response()
}

pub async fn user(
    State(st): State<AppState>,
    Path(version): Path<String>,
    user: BasicUser,
) -> Response {
    if !known_version(&version) {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    let (used, quota) = match user.account.member_id {
        Some(member_id) => match st.app.space_of_member(&user.actor, member_id).await {
            Ok(space) => (space.used_bytes, space.effective_quota(&st.app.settings)),
            _ => (0, 0),
        },
        None => (0, 0),
    };
    // -3 is ownCloud's "unlimited".
    let (total, free, relative) = if quota > 0 {
        let free = (quota - used).max(0);
        (
            quota,
            free,
            (used as f64 * 100.0 / quota as f64 * 100.0).round() / 100.0,
        )
    } else {
        (-3, -3, 0.0)
    };
    let data = json!({
        "id": user.account.login,
        "display-name": user.account.display_name,
        "email": user.account.email,
        "quota": { "free": free, "used": used, "total": total, "relative": relative },
    });
    Json(envelope(&version, data)).into_response()
}
