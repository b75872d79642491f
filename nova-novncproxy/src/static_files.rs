//! The noVNC web client's files, from `[DEFAULT] web` (GET and HEAD only,
//! no directory listings, nothing outside the directory).

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "ogg" | "oga" => "audio/ogg",
        "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "File not found\n").into_response()
}

/// The file under `web` that `path` names, if it is a plain relative path.
fn resolve(web: &str, path: &str) -> Option<PathBuf> {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() {
        return None;
    }
    let mut out = PathBuf::from(web);
    for seg in rel.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." || seg.contains('\\') || seg.contains('\0') {
            return None;
        }
        out.push(seg);
    }
    Some(out)
}

pub async fn serve(web: &str, method: &Method, path: &str) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed\n").into_response();
    }
    let Some(file) = resolve(web, path) else {
        return not_found();
    };
    // Symlinks inside the package (vnc_auto.html -> vnc.html) are followed.
    match tokio::fs::metadata(&file).await {
        Ok(m) if m.is_file() => {}
        _ => return not_found(),
    }
    match tokio::fs::read(&file).await {
        Ok(bytes) => {
            let len = bytes.len();
            let body = if method == Method::HEAD {
                Body::empty()
            } else {
                Body::from(bytes)
            };
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, content_type(path).to_string()),
                    (header::CONTENT_LENGTH, len.to_string()),
                ],
                body,
            )
                .into_response()
        }
        Err(_) => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_inside_the_directory() {
        assert_eq!(
            resolve("/usr/share/novnc", "/core/rfb.js"),
            Some(PathBuf::from("/usr/share/novnc/core/rfb.js"))
        );
        assert_eq!(resolve("/w", "/../etc/passwd"), None);
        assert_eq!(resolve("/w", "/a//b"), None);
        assert_eq!(resolve("/w", "/"), None);
    }
}
