//! WebDAV engine: filled in by the WebDAV issue; nothing calls it yet.
