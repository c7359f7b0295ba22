//! The directive table: every `WSGI*` directive of mod_wsgi 6, where it may
//! appear and its argument summary.

/// Where a directive may appear in httpd.conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Main server configuration only, outside any `<VirtualHost>`.
    ServerOnly,
    /// Main server or `<VirtualHost>`, not inside directory sections.
    ServerOrVhost,
    /// Server, virtual host or directory sections; not `.htaccess`.
    AnyButHtaccess,
    /// Anywhere, including `.htaccess` under `AllowOverride FileInfo`.
    AnyWithFileInfo,
    /// Directory sections and `.htaccess` under `AllowOverride AuthConfig`.
    DirWithAuthConfig,
}

impl Context {
    /// Directives that live in the per-directory configuration (merged down
    /// the `<Directory>`/`<Location>` tree) rather than the per-server one.
    pub fn is_per_directory(self) -> bool {
        matches!(
            self,
            Context::AnyButHtaccess | Context::AnyWithFileInfo | Context::DirWithAuthConfig
        )
    }
}

macro_rules! directive_table {
    ($( $id:ident => ($name:literal, $ctx:ident, $syntax:literal) ),+ $(,)?) => {
        /// One variant per directive; the discriminant indexes [`DIRECTIVES`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(usize)]
        pub enum Directive { $($id),+ }

        /// The table as a constant array, so the Apache command table can be
        /// built from it at compile time.
        pub const DIRECTIVE_SPECS: [DirectiveSpec; 0 $(+ { let _ = Directive::$id; 1 })+] = [
            $(DirectiveSpec {
                id: Directive::$id,
                name: $name,
                c_name: c_str(concat!($name, "\0")),
                c_syntax: c_str(concat!($syntax, "\0")),
                context: Context::$ctx,
                syntax: $syntax,
            }),+
        ];
    };
}

pub static DIRECTIVES: &[DirectiveSpec] = &DIRECTIVE_SPECS;

const fn c_str(with_nul: &'static str) -> &'static std::ffi::CStr {
    match std::ffi::CStr::from_bytes_with_nul(with_nul.as_bytes()) {
        Ok(c) => c,
        Err(_) => panic!("directive names must not contain NUL"),
    }
}

#[derive(Debug)]
pub struct DirectiveSpec {
    pub id: Directive,
    pub name: &'static str,
    /// `name` and `syntax` NUL-terminated, for Apache's command table.
    pub c_name: &'static std::ffi::CStr,
    pub c_syntax: &'static std::ffi::CStr,
    pub context: Context,
    /// Argument summary shown by `httpd -L` and in error messages.
    pub syntax: &'static str,
}

directive_table! {
    AcceptMutex => ("WSGIAcceptMutex", ServerOnly, "Default or an Apache mutex method (posixsem, sysvsem, fcntl, flock, pthread)"),
    AccessScript => ("WSGIAccessScript", DirWithAuthConfig, "path [application-group=NAME]"),
    ApplicationGroup => ("WSGIApplicationGroup", AnyButHtaccess, "name, %{GLOBAL}, %{SERVER}, %{RESOURCE} or %{ENV:VARIABLE}"),
    AuthGroupScript => ("WSGIAuthGroupScript", DirWithAuthConfig, "path [application-group=NAME]"),
    AuthUserScript => ("WSGIAuthUserScript", DirWithAuthConfig, "path [application-group=NAME]"),
    CallableObject => ("WSGICallableObject", AnyWithFileInfo, "name of the WSGI application callable"),
    CaseSensitivity => ("WSGICaseSensitivity", ServerOnly, "On or Off"),
    ChunkedRequest => ("WSGIChunkedRequest", AnyWithFileInfo, "On or Off"),
    DaemonProcess => ("WSGIDaemonProcess", ServerOrVhost, "name [option=value ...]"),
    DestroyInterpreter => ("WSGIDestroyInterpreter", ServerOnly, "On or Off"),
    DispatchScript => ("WSGIDispatchScript", AnyButHtaccess, "path [application-group=NAME]"),
    DontWriteBytecode => ("WSGIDontWriteBytecode", ServerOnly, "On or Off"),
    EnableSendfile => ("WSGIEnableSendfile", AnyWithFileInfo, "On or Off"),
    ErrorOverride => ("WSGIErrorOverride", AnyWithFileInfo, "On or Off"),
    FreeThreading => ("WSGIFreeThreading", ServerOnly, "On or Off"),
    GroupAuthoritative => ("WSGIGroupAuthoritative", DirWithAuthConfig, "On or Off"),
    HandlerScript => ("WSGIHandlerScript", AnyButHtaccess, "name path [option=value ...]"),
    IgnoreActivity => ("WSGIIgnoreActivity", AnyWithFileInfo, "On or Off"),
    ImportScript => ("WSGIImportScript", ServerOrVhost, "path process-group=NAME application-group=NAME"),
    InterpreterOptions => ("<WSGIInterpreterOptions", ServerOnly, "[process-group=NAME] [application-group=NAME]"),
    InterpreterPool => ("WSGIInterpreterPool", ServerOnly, "number of own-GIL sub-interpreters, 1 to 64, inside <WSGIInterpreterOptions application-group=NAME>"),
    MapHeadToGet => ("WSGIMapHEADToGET", AnyWithFileInfo, "On, Off or Auto"),
    OwnGilFallback => ("WSGIOwnGILFallback", ServerOnly, "On or Off"),
    PassApacheRequest => ("WSGIPassApacheRequest", AnyButHtaccess, "On or Off"),
    PassAuthorization => ("WSGIPassAuthorization", AnyWithFileInfo, "On or Off"),
    PerInterpreterGil => ("WSGIPerInterpreterGIL", ServerOnly, "On or Off"),
    ProcessGroup => ("WSGIProcessGroup", AnyButHtaccess, "name, %{GLOBAL} or %{ENV:VARIABLE}"),
    PythonEggs => ("WSGIPythonEggs", ServerOnly, "directory"),
    PythonHashSeed => ("WSGIPythonHashSeed", ServerOnly, "random or 0..4294967295"),
    PythonHome => ("WSGIPythonHome", ServerOnly, "prefix or prefix:exec_prefix"),
    PythonOptimize => ("WSGIPythonOptimize", ServerOnly, "0, 1 or 2"),
    PythonPath => ("WSGIPythonPath", ServerOnly, "directory[:directory...]"),
    PythonWarnings => ("WSGIPythonWarnings", ServerOnly, "warnings filter, as for python -W"),
    RestrictEmbedded => ("WSGIRestrictEmbedded", ServerOnly, "On or Off"),
    RestrictProcess => ("WSGIRestrictProcess", AnyButHtaccess, "group [group ...]"),
    RestrictSignal => ("WSGIRestrictSignal", ServerOnly, "On or Off"),
    RestrictStdin => ("WSGIRestrictStdin", ServerOnly, "On or Off"),
    RestrictStdout => ("WSGIRestrictStdout", ServerOnly, "On or Off"),
    ScriptAlias => ("WSGIScriptAlias", ServerOrVhost, "URL-path file-or-directory [option=value ...]"),
    ScriptAliasMatch => ("WSGIScriptAliasMatch", ServerOrVhost, "regex file-or-directory [option=value ...]"),
    ScriptReloading => ("WSGIScriptReloading", AnyWithFileInfo, "On or Off"),
    ServerMetrics => ("WSGIServerMetrics", ServerOnly, "On or Off"),
    SlowRequests => ("WSGISlowRequests", ServerOnly, "seconds (0 or more)"),
    SocketPrefix => ("WSGISocketPrefix", ServerOnly, "path prefix for daemon sockets"),
    SocketRotation => ("WSGISocketRotation", ServerOnly, "On or Off"),
    SwitchInterval => ("WSGISwitchInterval", ServerOnly, "seconds, e.g. 0.002"),
    TelemetryOptions => ("WSGITelemetryOptions", ServerOnly, "[+|-]Flag ..., None or All"),
    TelemetryService => ("WSGITelemetryService", ServerOnly, "unix:/path [interval=SECONDS]"),
    TrustedProxies => ("WSGITrustedProxies", AnyWithFileInfo, "address or network [...]"),
    TrustedProxyHeaders => ("WSGITrustedProxyHeaders", AnyWithFileInfo, "header [header ...]"),
    VerboseDebugging => ("WSGIVerboseDebugging", ServerOnly, "On or Off (deprecated, no effect)"),
}

impl Directive {
    pub fn spec(self) -> &'static DirectiveSpec {
        &DIRECTIVES[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// For directives that take `name=value` options: how many plain words
    /// come before the options. Option values may be quoted.
    pub fn positional_words(self) -> Option<usize> {
        match self {
            Directive::InterpreterOptions => Some(0),
            Directive::DaemonProcess
            | Directive::ImportScript
            | Directive::DispatchScript
            | Directive::AccessScript
            | Directive::AuthUserScript
            | Directive::AuthGroupScript => Some(1),
            Directive::ScriptAlias | Directive::ScriptAliasMatch | Directive::HandlerScript => {
                Some(2)
            }
            _ => None,
        }
    }

    pub fn by_name(name: &str) -> Option<Directive> {
        DIRECTIVES
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
            .map(|d| d.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_indexed_by_discriminant() {
        for (i, spec) in DIRECTIVES.iter().enumerate() {
            assert_eq!(spec.id as usize, i, "{} is out of order", spec.name);
        }
    }

    #[test]
    fn table_has_every_reference_directive() {
        // The 48 WSGI* directives of the C module's command table, the
        // <WSGIInterpreterOptions> container, and our WSGIInterpreterPool
        // and WSGIOwnGILFallback.
        assert_eq!(DIRECTIVES.len(), 51);
        assert_eq!(
            Directive::by_name("wsgiscriptalias"),
            Some(Directive::ScriptAlias)
        );
        assert_eq!(
            Directive::by_name("WSGIMapHEADToGET"),
            Some(Directive::MapHeadToGet)
        );
        assert_eq!(Directive::by_name("WSGINoSuchThing"), None);
    }

    #[test]
    fn contexts_choose_the_config_struct() {
        assert!(Directive::ApplicationGroup
            .spec()
            .context
            .is_per_directory());
        assert!(Directive::CallableObject.spec().context.is_per_directory());
        assert!(!Directive::ScriptAlias.spec().context.is_per_directory());
        assert!(!Directive::PythonPath.spec().context.is_per_directory());
    }
}
