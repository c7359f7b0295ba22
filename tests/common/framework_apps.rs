//! The Flask and Django test applications (tests/apps/frameworks/) and
//! helpers for driving them: shared by tests/frameworks.rs (directives
//! written by hand) and tests/express_frameworks.rs (mod_wsgi-express).

#![allow(dead_code)]

/// A Flask application in one WSGI script (callable `application`).
pub const FLASK_APP: &str = include_str!("../apps/frameworks/flask_app.wsgi");

/// The Django project, as (path relative to the project directory,
/// contents). `django.wsgi` is the WSGI script; it puts its own directory
/// on `sys.path`.
pub const DJANGO_FILES: &[(&str, &str)] = &[
    (
        "django.wsgi",
        include_str!("../apps/frameworks/django/django.wsgi"),
    ),
    (
        "djsite/__init__.py",
        include_str!("../apps/frameworks/django/djsite/__init__.py"),
    ),
    (
        "djsite/settings.py",
        include_str!("../apps/frameworks/django/djsite/settings.py"),
    ),
    (
        "djsite/urls.py",
        include_str!("../apps/frameworks/django/djsite/urls.py"),
    ),
    (
        "djsite/views.py",
        include_str!("../apps/frameworks/django/djsite/views.py"),
    ),
    (
        "templates/index.html",
        include_str!("../apps/frameworks/django/templates/index.html"),
    ),
    (
        "templates/form.html",
        include_str!("../apps/frameworks/django/templates/form.html"),
    ),
    (
        "templates/thanks.html",
        include_str!("../apps/frameworks/django/templates/thanks.html"),
    ),
];

/// `value` of the hidden csrfmiddlewaretoken input in a Django page.
pub fn hidden_csrf_token(html: &str) -> String {
    let marker = r#"name="csrfmiddlewaretoken" value=""#;
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no csrfmiddlewaretoken input in {html:?}"))
        + marker.len();
    let end = html[start..].find('"').expect("end of token") + start;
    html[start..end].to_string()
}
