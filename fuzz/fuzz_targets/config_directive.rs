//! One httpd.conf directive line (`WSGIName args...`, continuation lines
//! already joined as Apache joins them): split into words as
//! `apache::commands` splits them, then applied to the server or
//! directory configuration (WSGIDaemonProcess included) or read as a
//! `<WSGIInterpreterOptions ...>` header. Any line must give words or a
//! configuration error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mod_wsgi_pure::config::interp_options::InterpreterOptions;
use mod_wsgi_pure::config::words::{next_word, split_with_options, split_words};
use mod_wsgi_pure::config::{DirConfig, Directive, ServerConfig};

/// The same choice `apache::commands::directive_words` makes (that file
/// reaches Apache, so it cannot be included here).
fn directive_words(directive: Directive, line: &str) -> Vec<String> {
    match directive.positional_words() {
        Some(positional) => split_with_options(line, positional),
        None => split_words(line),
    }
}

fuzz_target!(|data: &[u8]| {
    // Apache hands us the arguments as C strings; we read them lossily.
    let text = String::from_utf8_lossy(data);
    let text = text.split('\0').next().unwrap_or("");

    // Every word consumes input, so reading a line always ends.
    let mut rest = text;
    while let Some(_word) = next_word(&mut rest) {
        assert!(rest.len() < text.len());
    }

    let (name, line) = text
        .trim_start()
        .split_once(char::is_whitespace)
        .unwrap_or((text, ""));
    let name = name.trim_start_matches('<');
    let Some(directive) = Directive::by_name(name) else {
        return;
    };
    if directive == Directive::InterpreterOptions {
        if let Some(inside) = line.trim_end().strip_suffix('>') {
            let header = directive_words(directive, inside);
            if let Ok(mut options) = InterpreterOptions::parse_header(&header) {
                let inner = split_words(line);
                if let Some((first, args)) = inner.split_first() {
                    let _ = options.apply_line(first, args);
                }
            }
        }
        return;
    }
    let words = directive_words(directive, line);
    if directive.spec().context.is_per_directory() {
        let mut dir = DirConfig::default();
        if dir.apply(directive, &words).is_ok() {
            let _ = DirConfig::merge(&DirConfig::default(), &dir);
        }
    } else {
        let mut server = ServerConfig::default();
        if server.apply(directive, &words).is_ok() {
            let _ = ServerConfig::merge(&ServerConfig::default(), &server);
        }
    }
    let mut options = InterpreterOptions::default();
    let _ = options.apply_line(directive.name(), &words);
});
