//! Live properties: which exist, how each is rendered from an [`Entry`], and which PROPPATCH may
//! change. Dead properties are whatever else the backend stored.

use std::time::SystemTime;

use crate::backend::ActiveLock;
use crate::backend::{Entry, PropName, Want};
use crate::locks;
use crate::time::{http_date, rfc3339};
use crate::xml::write::escape;
use crate::xml::{DAV, NC, OC};

/// A live property we compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    ResourceType,
    GetEtag,
    GetContentLength,
    GetContentType,
    GetLastModified,
    CreationDate,
    DisplayName,
    LockDiscovery,
    SupportedLock,
    QuotaUsed,
    QuotaAvailable,
    OcId,
    OcFileId,
    OcPermissions,
    OcSize,
    OcChecksums,
    OcShareTypes,
    OcDataFingerprint,
    /// Known to the clients but not offered: always in the 404 propstat.
    OcDownloadUrl,
    OcDdc,
    NcHasPreview,
}

const ALL: &[(Live, &str, &str)] = &[
    (Live::ResourceType, DAV, "resourcetype"),
    (Live::GetEtag, DAV, "getetag"),
    (Live::GetContentLength, DAV, "getcontentlength"),
    (Live::GetContentType, DAV, "getcontenttype"),
    (Live::GetLastModified, DAV, "getlastmodified"),
    (Live::CreationDate, DAV, "creationdate"),
    (Live::DisplayName, DAV, "displayname"),
    (Live::LockDiscovery, DAV, "lockdiscovery"),
    (Live::SupportedLock, DAV, "supportedlock"),
    (Live::QuotaUsed, DAV, "quota-used-bytes"),
    (Live::QuotaAvailable, DAV, "quota-available-bytes"),
    (Live::OcId, OC, "id"),
    (Live::OcFileId, OC, "fileid"),
    (Live::OcPermissions, OC, "permissions"),
    (Live::OcSize, OC, "size"),
    (Live::OcChecksums, OC, "checksums"),
    (Live::OcShareTypes, OC, "share-types"),
    (Live::OcDataFingerprint, OC, "data-fingerprint"),
    (Live::OcDownloadUrl, OC, "downloadURL"),
    (Live::OcDdc, OC, "dDC"),
    (Live::NcHasPreview, NC, "has-preview"),
];

/// Rendered by `allprop` (RFC 4918 leaves the live set to the server; the clients never use
/// allprop, but litmus and generic clients do).
const ALLPROP: &[Live] = &[
    Live::ResourceType,
    Live::GetEtag,
    Live::GetContentLength,
    Live::GetContentType,
    Live::GetLastModified,
    Live::CreationDate,
    Live::DisplayName,
    Live::LockDiscovery,
    Live::SupportedLock,
    Live::QuotaUsed,
    Live::QuotaAvailable,
    Live::OcId,
    Live::OcFileId,
    Live::OcPermissions,
    Live::OcSize,
];

impl Live {
    pub fn lookup(name: &PropName) -> Option<Live> {
        ALL.iter()
            .find(|(_, ns, n)| *ns == name.ns && *n == name.name)
            .map(|(l, _, _)| *l)
    }

    pub fn name(self) -> PropName {
        ALL.iter()
            .find(|(l, _, _)| *l == self)
            .map(|(_, ns, n)| PropName::new(*ns, *n))
            .unwrap_or_else(|| PropName::new(DAV, "unknown"))
    }

    /// What the backend must fill in for this property.
    pub fn want(self) -> Want {
        match self {
            Live::QuotaUsed | Live::QuotaAvailable => Want {
                quota: true,
                ..Want::default()
            },
            Live::OcSize => Want {
                tree_size: true,
                ..Want::default()
            },
            _ => Want::default(),
        }
    }

    pub fn allprop() -> &'static [Live] {
        ALLPROP
    }
}

/// True for properties a client may set through PROPPATCH (as the mtime).
pub fn is_settable_mtime(name: &PropName) -> bool {
    name.ns == DAV && (name.name == "lastmodified" || name.name == "getlastmodified")
}

/// True for properties nobody may set or remove (RFC 4918 `cannot-modify-protected-property`).
pub fn is_protected(name: &PropName) -> bool {
    !is_settable_mtime(name) && Live::lookup(name).is_some() && !is_ignored_on_patch(name)
}

/// Accepted on PROPPATCH but not stored: rclone sends `oc:checksums` along with the mtime; the
/// server computes checksums itself, so the value is ignored rather than refused (refusing would
/// fail the whole PROPPATCH and with it the mtime).
pub fn is_ignored_on_patch(name: &PropName) -> bool {
    name.ns == OC && name.name == "checksums"
}

/// Extra facts for rendering besides the entry.
pub struct RenderCtx<'a> {
    pub prefix: &'a str,
    pub now: SystemTime,
    /// Locks fetched for the listing (only when lockdiscovery is rendered).
    pub locks: &'a [ActiveLock],
}

/// The inner XML of a live property for `entry`, or `None` when it does not apply (404).
pub fn render(live: Live, e: &Entry, rc: &RenderCtx<'_>) -> Option<String> {
    Some(match live {
        Live::ResourceType => {
            if e.is_collection {
                "<d:collection/>".to_owned()
            } else {
                String::new()
            }
        }
        Live::GetEtag => format!("&quot;{}&quot;", escape(&e.etag)),
        Live::GetContentLength if !e.is_collection => e.size.to_string(),
        Live::GetContentLength => return None,
        Live::GetContentType if !e.is_collection => escape(
            e.content_type
                .as_deref()
                .unwrap_or("application/octet-stream"),
        )
        .into_owned(),
        Live::GetContentType => return None,
        Live::GetLastModified => http_date(e.mtime),
        Live::CreationDate => rfc3339(e.created?),
        Live::DisplayName => escape(e.path.name()).into_owned(),
        Live::LockDiscovery => locks::lockdiscovery(rc.prefix, &e.path, rc.locks, rc.now),
        Live::SupportedLock => locks::SUPPORTED_LOCK.to_owned(),
        Live::QuotaUsed => e.quota?.used.to_string(),
        Live::QuotaAvailable => e.quota?.available?.to_string(),
        Live::OcId => escape(&e.oc_id).into_owned(),
        Live::OcFileId => escape(&e.file_id).into_owned(),
        Live::OcPermissions => escape(&e.permissions).into_owned(),
        Live::OcSize => e.size.to_string(),
        Live::OcChecksums if !e.is_collection => {
            let c = &e.checksums;
            let parts: Vec<String> = [("SHA1", &c.sha1), ("MD5", &c.md5), ("SHA256", &c.sha256)]
                .iter()
                .filter_map(|(alg, v)| v.as_ref().map(|v| format!("{alg}:{}", escape(v))))
                .collect();
            if parts.is_empty() {
                return None;
            }
            format!("<oc:checksum>{}</oc:checksum>", parts.join(" "))
        }
        Live::OcChecksums => return None,
        Live::OcShareTypes => String::new(),
        // Empty means "supported, not set"; it must never change (client-protocol §8.10).
        Live::OcDataFingerprint if e.is_collection => String::new(),
        Live::OcDataFingerprint => return None,
        Live::OcDownloadUrl | Live::OcDdc | Live::NcHasPreview => return None,
    })
}

/// The best checksum for the `OC-Checksum` response header: SHA1 as ownCloud sends, else MD5,
/// else SHA256.
pub fn oc_checksum_header(e: &Entry) -> Option<String> {
    let c = &e.checksums;
    if let Some(v) = &c.sha1 {
        return Some(format!("SHA1:{v}"));
    }
    if let Some(v) = &c.md5 {
        return Some(format!("MD5:{v}"));
    }
    c.sha256.as_ref().map(|v| format!("SHA256:{v}"))
}
