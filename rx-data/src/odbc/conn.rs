//! Connection strings that never show their password, and SQL Server's connection-string builder.

use std::fmt;

/// An ODBC connection string. `Debug` and `Display` replace the value of `PWD` / `Password` with
/// `***`, and [`ConnectionString::scrub`] removes the password from any message, so a password
/// never reaches an error, a log line or a printed struct.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString(String);

impl ConnectionString {
    /// Wraps a connection string (`Driver={...};Server=...;Uid=...;Pwd=...`).
    pub fn new(s: impl Into<String>) -> Self {
        ConnectionString(s.into())
    }

    /// The full string, for the driver manager only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The `key=value` pairs, with `{...}` values unwrapped (`}}` is a literal `}`).
    pub fn pairs(&self) -> Vec<(String, String)> {
        parse_pairs(&self.0)
    }

    /// The value of `key` (case-insensitive), if present.
    pub fn get(&self, key: &str) -> Option<String> {
        self.pairs()
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    /// The passwords in the string.
    fn secrets(&self) -> Vec<String> {
        self.pairs()
            .into_iter()
            .filter(|(k, v)| is_secret(k) && !v.is_empty())
            .map(|(_, v)| v)
            .collect()
    }

    /// `message` with every password of this connection string replaced by `***`.
    pub fn scrub(&self, message: &str) -> String {
        let mut out = message.to_string();
        for s in self.secrets() {
            out = out.replace(&s, "***");
        }
        out
    }

    /// The string with its passwords replaced by `***`.
    pub fn redacted(&self) -> String {
        self.pairs()
            .into_iter()
            .map(|(k, v)| {
                if is_secret(&k) {
                    format!("{k}=***")
                } else {
                    format!("{k}={}", brace(&v))
                }
            })
            .collect::<Vec<_>>()
            .join(";")
    }
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionString({:?})", self.redacted())
    }
}

impl fmt::Display for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn is_secret(key: &str) -> bool {
    let k = key.trim().to_ascii_lowercase();
    k == "pwd" || k == "password"
}

/// A value as it must appear in a connection string: in braces when it holds `;`, `{`, `}` or
/// leading/trailing spaces (a `}` inside is doubled).
pub fn brace(value: &str) -> String {
    if value.contains([';', '{', '}', '=']) || value.starts_with(' ') || value.ends_with(' ') {
        format!("{{{}}}", value.replace('}', "}}"))
    } else {
        value.to_string()
    }
}

fn parse_pairs(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            chars.next();
            if c == '=' {
                break;
            }
            if c == ';' {
                key.clear();
                continue;
            }
            key.push(c);
        }
        if key.trim().is_empty() && chars.peek().is_none() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'{') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '}' {
                    if chars.peek() == Some(&'}') {
                        chars.next();
                        value.push('}');
                        continue;
                    }
                    break;
                }
                value.push(c);
            }
            // Skip to the separator.
            for c in chars.by_ref() {
                if c == ';' {
                    break;
                }
            }
        } else {
            for c in chars.by_ref() {
                if c == ';' {
                    break;
                }
                value.push(c);
            }
        }
        out.push((key.trim().to_string(), value));
        if chars.peek().is_none() {
            break;
        }
    }
    out
}

/// SQL Server's connection-string builder (revoscalepy's `RxSqlServerData` arguments).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SqlServerConnection {
    /// `Server`: host, `host,port` or `host\instance`.
    pub server: String,
    /// `Database`.
    pub database: Option<String>,
    /// `Uid` (SQL Server authentication).
    pub user: Option<String>,
    /// `Pwd`.
    pub password: Option<String>,
    /// `Trusted_Connection=Yes` (Windows / Kerberos authentication) instead of user and password.
    pub trusted_connection: bool,
    /// The ODBC driver (default `ODBC Driver 18 for SQL Server`); a name from odbcinst.ini or an
    /// absolute path to the driver library.
    pub driver: Option<String>,
    /// `Encrypt` (driver 18 encrypts by default; `Some(false)` turns it off).
    pub encrypt: Option<bool>,
    /// `TrustServerCertificate=Yes` (a self-signed server certificate).
    pub trust_server_certificate: bool,
    /// Further `key=value` pairs, appended as given.
    pub extra: Vec<(String, String)>,
}

impl fmt::Debug for SqlServerConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SqlServerConnection({})", self.connection_string())
    }
}

impl SqlServerConnection {
    /// A connection to `server`.
    pub fn new(server: impl Into<String>) -> Self {
        SqlServerConnection {
            server: server.into(),
            ..Default::default()
        }
    }

    /// Sets the database.
    pub fn database(mut self, db: impl Into<String>) -> Self {
        self.database = Some(db.into());
        self
    }

    /// SQL Server authentication with a user and password.
    pub fn user(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self.password = Some(password.into());
        self
    }

    /// Windows (trusted) authentication.
    pub fn trusted_connection(mut self, yes: bool) -> Self {
        self.trusted_connection = yes;
        self
    }

    /// The ODBC driver name or library path.
    pub fn driver(mut self, driver: impl Into<String>) -> Self {
        self.driver = Some(driver.into());
        self
    }

    /// The connection string (the password inside stays hidden when it is printed).
    pub fn connection_string(&self) -> ConnectionString {
        let mut parts = vec![
            format!(
                "Driver={{{}}}",
                self.driver
                    .as_deref()
                    .unwrap_or("ODBC Driver 18 for SQL Server")
                    .replace('}', "}}")
            ),
            format!("Server={}", brace(&self.server)),
        ];
        if let Some(db) = &self.database {
            parts.push(format!("Database={}", brace(db)));
        }
        if self.trusted_connection {
            parts.push("Trusted_Connection=Yes".into());
        } else {
            if let Some(u) = &self.user {
                parts.push(format!("Uid={}", brace(u)));
            }
            if let Some(p) = &self.password {
                parts.push(format!("Pwd={}", brace(p)));
            }
        }
        if let Some(e) = self.encrypt {
            parts.push(format!("Encrypt={}", if e { "Yes" } else { "No" }));
        }
        if self.trust_server_certificate {
            parts.push("TrustServerCertificate=Yes".into());
        }
        for (k, v) in &self.extra {
            parts.push(format!("{k}={}", brace(v)));
        }
        ConnectionString::new(parts.join(";"))
    }
}
