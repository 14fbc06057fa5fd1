//! Bytes the cockpit writes to the terminal besides its screen: the bell, OSC 9 desktop
//! notifications, OSC 52 clipboard writes and OSC 8 hyperlinks. Pure: the runtime writes what
//! these return.

/// The longest notification text sent; terminals show a line or two.
const NOTIFY_MAX: usize = 240;

/// The bell and/or an OSC 9 notification (`ESC ] 9 ; text BEL`). The text is made printable
/// first: a run's reason is written by agents and must not end the sequence early.
pub fn alert(bell: bool, notify: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(text) = notify {
        let text = crate::text::cut(text, NOTIFY_MAX);
        out.push_str(&format!("\u{1b}]9;{text}\u{7}"));
    }
    if bell {
        out.push('\u{7}');
    }
    out
}

/// OSC 52: put `text` on the clipboard (`ESC ] 52 ; c ; BASE64 BEL`); the terminal does it,
/// so it works over SSH too.
pub fn clipboard(text: &str) -> String {
    format!(
        "\u{1b}]52;c;{}\u{7}",
        crate::base64::encode(text.as_bytes())
    )
}

/// OSC 8: `text` as a link to `url` (`ESC ] 8 ; ; URL ST TEXT ESC ] 8 ; ; ST`). The caller
/// makes sure `url` is printable ASCII (`ui::pr::linkable`) and `text` has no control
/// characters (it comes from screen cells).
pub fn hyperlink(url: &str, text: &str) -> String {
    format!("\u{1b}]8;;{url}\u{1b}\\{text}\u{1b}]8;;\u{1b}\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bell_and_notification() {
        assert_eq!(alert(true, None), "\u{7}");
        assert_eq!(
            alert(true, Some("run abc failed")),
            "\u{1b}]9;run abc failed\u{7}\u{7}"
        );
        // An agent's text cannot close the sequence or start another.
        let sneaky = alert(false, Some("x\u{7}\u{1b}]52;c;ZXZpbA==\u{7}y"));
        assert_eq!(sneaky, "\u{1b}]9;x\u{fffd}y\u{7}");
        assert_eq!(alert(false, None), "");
    }

    #[test]
    fn clipboard_is_base64_in_osc_52() {
        assert_eq!(clipboard("foo"), "\u{1b}]52;c;Zm9v\u{7}");
    }

    #[test]
    fn hyperlink_is_osc_8_closed_after_the_text() {
        assert_eq!(
            hyperlink("https://x.test/1", "#1"),
            "\u{1b}]8;;https://x.test/1\u{1b}\\#1\u{1b}]8;;\u{1b}\\"
        );
    }
}
