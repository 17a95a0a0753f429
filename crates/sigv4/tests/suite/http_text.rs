//! Owned requests for tests: parsed from the suites' HTTP/1.1 text files or built by hand.

use latchkey_sigv4::HttpRequest;

#[derive(Debug, Clone, Default)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    /// Lends the request as the verifier sees it (the borrowed header list needs a home).
    pub fn with<R>(&self, f: impl FnOnce(&HttpRequest<'_>) -> R) -> R {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        f(&HttpRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: &headers,
            body: &self.body,
        })
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| n != name);
        self
    }
}

/// Parses an HTTP/1.1 request as the suites write it. The request target may contain
/// raw spaces and UTF-8 (the suites' way of writing "this path, encoded once"), header
/// names are lowercased like hyper does, values trimmed, and obs-fold continuation
/// lines unfolded into one space as RFC 7230 section 3.2.4 tells a recipient to.
pub fn parse(text: &str) -> Result<Req, String> {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().ok_or("empty request")?;
    let (method, rest) = request_line
        .split_once(' ')
        .ok_or_else(|| format!("bad request line {request_line:?}"))?;
    let (target, _version) = rest
        .rsplit_once(' ')
        .ok_or_else(|| format!("bad request line {request_line:?}"))?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let (_, value) = headers
                .last_mut()
                .ok_or_else(|| format!("continuation without header: {line:?}"))?;
            value.push(' ');
            value.push_str(line.trim());
        } else {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| format!("bad header line {line:?}"))?;
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    Ok(Req {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: body.as_bytes().to_vec(),
    })
}
