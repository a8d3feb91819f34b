//! Plain tables rendered as Markdown (aligned) or CSV.

/// Output format of the table-printing commands.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Md,
    Csv,
    Json,
}

/// Headers and rows of strings.
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        debug_assert_eq!(row.len(), self.headers.len());
        self.rows.push(row);
    }

    /// GitHub Markdown, columns padded to equal width; numbers right-aligned.
    pub fn markdown(&self) -> String {
        // A cell is one line of text: `|` escaped, line breaks and other control characters shown as spaces
        // (a layer's name comes from the user and must not break the table).
        let esc = |c: &String| -> String {
            c.chars()
                .map(|ch| if ch.is_control() { ' ' } else { ch })
                .collect::<String>()
                .replace('|', "\\|")
        };
        let escaped = Table {
            headers: self.headers.iter().map(esc).collect(),
            rows: self
                .rows
                .iter()
                .map(|r| r.iter().map(esc).collect())
                .collect(),
        };
        escaped.markdown_plain()
    }

    fn markdown_plain(&self) -> String {
        let n = self.headers.len();
        let width: Vec<usize> = (0..n)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .chain([self.headers[c].chars().count(), 3])
                    .max()
                    .unwrap()
            })
            .collect();
        let numeric: Vec<bool> = (0..n)
            .map(|c| {
                self.rows.iter().all(|r| {
                    r[c].starts_with(|ch: char| ch.is_ascii_digit() || ch == '-' || ch == '.')
                })
            })
            .collect();
        let line = |cells: &[String]| {
            let parts: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(c, s)| {
                    if numeric[c] {
                        format!("{s:>w$}", w = width[c])
                    } else {
                        format!("{s:<w$}", w = width[c])
                    }
                })
                .collect();
            format!("| {} |\n", parts.join(" | "))
        };
        let mut out = line(&self.headers);
        let rule: Vec<String> = (0..n)
            .map(|c| {
                if numeric[c] {
                    format!("{}:", "-".repeat(width[c] - 1))
                } else {
                    "-".repeat(width[c])
                }
            })
            .collect();
        out.push_str(&format!("| {} |\n", rule.join(" | ")));
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }

    /// RFC 4180 CSV.
    pub fn csv(&self) -> String {
        let esc = |s: &String| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.clone()
            }
        };
        let mut out = String::new();
        for r in std::iter::once(&self.headers).chain(&self.rows) {
            out.push_str(&r.iter().map(esc).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown_and_csv() {
        let mut t = Table::new(&["name", "n"]);
        t.push(vec!["a,b".into(), "12".into()]);
        t.push(vec!["c".into(), "3".into()]);
        assert_eq!(
            t.markdown(),
            "| name |   n |\n| ---- | --: |\n| a,b  |  12 |\n| c    |   3 |\n"
        );
        assert_eq!(t.csv(), "name,n\n\"a,b\",12\nc,3\n");
    }
}
