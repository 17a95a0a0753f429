use std::fmt::Write;

/// Who is at fault, as the `<Type>` element of an error says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Sender,
    Receiver,
}

/// Writes text with the five XML special characters escaped.
///
/// Copies runs of ordinary characters in one go: most values (ids, ARNs, dates) need no
/// escaping at all, and this runs for every element of every response.
pub fn escape_into(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(position) = rest.find(|c: char| needs_escape(c)) {
        out.push_str(&rest[..position]);
        let c = rest[position..].chars().next().unwrap_or_default();
        out.push_str(match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&apos;",
            // A raw CR reaches the client as LF: XML parsers normalize line ends in text.
            '\r' => "&#xD;",
            // Characters XML 1.0 cannot carry at all (one makes the whole document unreadable
            // to expat, hence to botocore); they never come from our own data, but user-chosen
            // strings pass through here.
            _ => "&#xFFFD;",
        });
        rest = &rest[position + c.len_utf8()..];
    }
    out.push_str(rest);
}

fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '&' | '<' | '>' | '"' | '\'' | '\r' | '\u{FFFE}' | '\u{FFFF}'
    ) || ((c as u32) < 0x20 && !matches!(c, '\t' | '\n'))
}

/// Builds `<{Op}Response xmlns=..><{Op}Result>..</{Op}Result><ResponseMetadata>..` documents.
///
/// Elements are written in the order the caller gives; the caller follows the output shape of
/// the AWS model, so member order matches what AWS sends.
#[derive(Debug)]
pub struct XmlResponse {
    operation: &'static str,
    buf: String,
    has_result: bool,
}

impl XmlResponse {
    /// Starts the response of an operation that has an output shape.
    pub fn new(operation: &'static str, xmlns: &str) -> Self {
        let mut buf = String::with_capacity(512);
        let _ = write!(
            buf,
            "<{operation}Response xmlns=\"{xmlns}\"><{operation}Result>"
        );
        XmlResponse {
            operation,
            buf,
            has_result: true,
        }
    }

    /// Starts the response of an operation without output: AWS sends only the metadata.
    pub fn without_result(operation: &'static str, xmlns: &str) -> Self {
        let mut buf = String::with_capacity(256);
        let _ = write!(buf, "<{operation}Response xmlns=\"{xmlns}\">");
        XmlResponse {
            operation,
            buf,
            has_result: false,
        }
    }

    /// `<name>text</name>`, escaped.
    pub fn element(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name);
        escape_into(&mut self.buf, text);
        self.close(name)
    }

    /// An element that the output shape marks optional: written only when there is a value.
    pub fn optional(&mut self, name: &str, text: Option<&str>) -> &mut Self {
        if let Some(text) = text {
            self.element(name, text);
        }
        self
    }

    /// Escaped text inside the element being written (a list of plain strings).
    pub fn escape_text(&mut self, text: &str) -> &mut Self {
        escape_into(&mut self.buf, text);
        self
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push('>');
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
        self
    }

    /// A list serialized as `<name><member>..</member>..</name>`; `write` fills each member.
    pub fn list<T>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = T>,
        mut write: impl FnMut(&mut Self, T),
    ) -> &mut Self {
        self.open(name);
        for item in items {
            self.open("member");
            write(self, item);
            self.close("member");
        }
        self.close(name)
    }

    /// A map serialized as `<name><entry><key>..</key><value>..</value></entry>..</name>`.
    pub fn map<'a>(
        &mut self,
        name: &str,
        entries: impl IntoIterator<Item = (&'a str, String)>,
    ) -> &mut Self {
        self.open(name);
        for (key, value) in entries {
            self.open("entry");
            self.element("key", key);
            self.element("value", &value);
            self.close("entry");
        }
        self.close(name)
    }

    /// Closes the document with the request id.
    pub fn finish(mut self, request_id: &str) -> String {
        if self.has_result {
            let _ = write!(self.buf, "</{}Result>", self.operation);
        }
        self.buf.push_str("<ResponseMetadata><RequestId>");
        escape_into(&mut self.buf, request_id);
        let _ = write!(
            self.buf,
            "</RequestId></ResponseMetadata></{}Response>",
            self.operation
        );
        self.buf
    }
}

/// The `<ErrorResponse>` document of the query protocol.
pub fn error_document(
    xmlns: &str,
    error_type: ErrorType,
    code: &str,
    message: &str,
    request_id: &str,
) -> String {
    let mut out = String::with_capacity(256 + message.len());
    let _ = write!(out, "<ErrorResponse xmlns=\"{xmlns}\"><Error><Type>");
    out.push_str(match error_type {
        ErrorType::Sender => "Sender",
        ErrorType::Receiver => "Receiver",
    });
    out.push_str("</Type><Code>");
    escape_into(&mut out, code);
    out.push_str("</Code><Message>");
    escape_into(&mut out, message);
    out.push_str("</Message></Error><RequestId>");
    escape_into(&mut out, request_id);
    out.push_str("</RequestId></ErrorResponse>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_has_result_wrapper_and_metadata() {
        let mut r = XmlResponse::new("GetCallerIdentity", crate::STS_XMLNS);
        r.element("Arn", "arn:aws:iam::123456789012:user/a&b")
            .element("UserId", "AIDA")
            .element("Account", "123456789012");
        assert_eq!(
            r.finish("req-1"),
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/a&amp;b</Arn><UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
        );
    }

    #[test]
    fn operation_without_output_has_no_result_element() {
        let r = XmlResponse::without_result("DeleteUser", crate::IAM_XMLNS);
        let doc = r.finish("x");
        assert!(!doc.contains("DeleteUserResult"));
        assert!(doc.ends_with("</ResponseMetadata></DeleteUserResponse>"));
    }

    #[test]
    fn lists_and_maps() {
        let mut r = XmlResponse::new("X", "ns");
        r.list("Users", ["a", "b"], |r, name| {
            r.element("UserName", name);
        });
        r.map("SummaryMap", [("Users", "2".to_string())]);
        let doc = r.finish("id");
        assert!(doc.contains("<Users><member><UserName>a</UserName></member><member><UserName>b</UserName></member></Users>"));
        assert!(
            doc.contains(
                "<SummaryMap><entry><key>Users</key><value>2</value></entry></SummaryMap>"
            )
        );
    }

    #[test]
    fn error_document_escapes_and_types() {
        let doc = error_document(
            crate::IAM_XMLNS,
            ErrorType::Sender,
            "NoSuchEntity",
            "user <x> not found",
            "r",
        );
        assert_eq!(
            doc,
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>user &lt;x&gt; not found</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        );
    }

    #[test]
    fn control_characters_do_not_break_the_document() {
        let mut out = String::new();
        escape_into(&mut out, "a\u{1}b");
        assert_eq!(out, "a&#xFFFD;b");
    }

    /// Found by the `xml_escape` fuzz target: a raw CR came back as LF, since XML parsers
    /// normalize line ends in text.
    #[test]
    fn carriage_returns_survive_the_round_trip() {
        let mut out = String::new();
        escape_into(&mut out, "a\r\nb\rc");
        assert_eq!(out, "a&#xD;\nb&#xD;c");
    }

    /// U+FFFE and U+FFFF are not XML 1.0 characters; expat refuses a document holding one.
    #[test]
    fn noncharacters_are_replaced() {
        let mut out = String::new();
        escape_into(&mut out, "a\u{FFFE}b\u{FFFF}c\u{FFFD}");
        assert_eq!(out, "a&#xFFFD;b&#xFFFD;c\u{FFFD}");
    }

    #[test]
    fn policy_documents_are_percent_encoded() {
        assert_eq!(
            crate::encode_policy_document("{\"Version\": \"2012-10-17\"}"),
            "%7B%22Version%22%3A%20%222012-10-17%22%7D"
        );
    }
}
