//! The directive table: every `WSGI*` directive of mod_wsgi 6, where it may
//! appear and whether its behaviour is implemented yet.

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
    ($( $id:ident => ($name:literal, $ctx:ident, $implemented:literal, $syntax:literal) ),+ $(,)?) => {
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
                implemented: $implemented,
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
    /// False while the directive is accepted and validated but has no effect
    /// yet; such directives are named in a startup warning when used.
    pub implemented: bool,
    /// Argument summary shown by `httpd -L` and in error messages.
    pub syntax: &'static str,
}

directive_table! {
    AcceptMutex => ("WSGIAcceptMutex", ServerOnly, true, "Default or an Apache mutex method (posixsem, sysvsem, fcntl, flock, pthread)"),
    AccessScript => ("WSGIAccessScript", DirWithAuthConfig, false, "path [application-group=NAME]"),
    ApplicationGroup => ("WSGIApplicationGroup", AnyButHtaccess, true, "name, %{GLOBAL}, %{SERVER}, %{RESOURCE} or %{ENV:VARIABLE}"),
    AuthGroupScript => ("WSGIAuthGroupScript", DirWithAuthConfig, false, "path [application-group=NAME]"),
    AuthUserScript => ("WSGIAuthUserScript", DirWithAuthConfig, false, "path [application-group=NAME]"),
    CallableObject => ("WSGICallableObject", AnyWithFileInfo, true, "name of the WSGI application callable"),
    CaseSensitivity => ("WSGICaseSensitivity", ServerOnly, true, "On or Off"),
    ChunkedRequest => ("WSGIChunkedRequest", AnyWithFileInfo, true, "On or Off"),
    DaemonProcess => ("WSGIDaemonProcess", ServerOrVhost, true, "name [option=value ...]"),
    DestroyInterpreter => ("WSGIDestroyInterpreter", ServerOnly, true, "On or Off"),
    DispatchScript => ("WSGIDispatchScript", AnyWithFileInfo, true, "path [application-group=NAME]"),
    DontWriteBytecode => ("WSGIDontWriteBytecode", ServerOnly, true, "On or Off"),
    EnableSendfile => ("WSGIEnableSendfile", AnyWithFileInfo, true, "On or Off"),
    ErrorOverride => ("WSGIErrorOverride", AnyWithFileInfo, true, "On or Off"),
    FreeThreading => ("WSGIFreeThreading", ServerOnly, true, "On or Off"),
    HandlerScript => ("WSGIHandlerScript", AnyWithFileInfo, true, "name path [option=value ...]"),
    IgnoreActivity => ("WSGIIgnoreActivity", AnyWithFileInfo, true, "On or Off"),
    ImportScript => ("WSGIImportScript", ServerOnly, true, "path process-group=NAME application-group=NAME"),
    InterpreterOptions => ("<WSGIInterpreterOptions", ServerOnly, true, "[process-group=NAME] [application-group=NAME]"),
    MapHeadToGet => ("WSGIMapHEADToGET", AnyWithFileInfo, true, "On, Off or Auto"),
    PassApacheRequest => ("WSGIPassApacheRequest", AnyWithFileInfo, true, "On or Off"),
    PassAuthorization => ("WSGIPassAuthorization", AnyWithFileInfo, true, "On or Off"),
    PerInterpreterGil => ("WSGIPerInterpreterGIL", ServerOnly, true, "On or Off"),
    ProcessGroup => ("WSGIProcessGroup", AnyButHtaccess, true, "name, %{GLOBAL} or %{ENV:VARIABLE}"),
    PythonEggs => ("WSGIPythonEggs", ServerOnly, true, "directory"),
    PythonHashSeed => ("WSGIPythonHashSeed", ServerOnly, true, "random or 0..4294967295"),
    PythonHome => ("WSGIPythonHome", ServerOnly, true, "prefix or prefix:exec_prefix"),
    PythonOptimize => ("WSGIPythonOptimize", ServerOnly, true, "0, 1 or 2"),
    PythonPath => ("WSGIPythonPath", ServerOnly, true, "directory[:directory...]"),
    PythonWarnings => ("WSGIPythonWarnings", ServerOnly, true, "warnings filter, as for python -W"),
    RestrictEmbedded => ("WSGIRestrictEmbedded", ServerOnly, true, "On or Off"),
    RestrictProcess => ("WSGIRestrictProcess", AnyButHtaccess, true, "group [group ...]"),
    RestrictSignal => ("WSGIRestrictSignal", ServerOnly, true, "On or Off"),
    RestrictStdin => ("WSGIRestrictStdin", ServerOnly, true, "On or Off"),
    RestrictStdout => ("WSGIRestrictStdout", ServerOnly, true, "On or Off"),
    ScriptAlias => ("WSGIScriptAlias", ServerOrVhost, true, "URL-path file-or-directory [option=value ...]"),
    ScriptAliasMatch => ("WSGIScriptAliasMatch", ServerOrVhost, true, "regex file-or-directory [option=value ...]"),
    ScriptReloading => ("WSGIScriptReloading", AnyWithFileInfo, true, "On or Off"),
    ServerMetrics => ("WSGIServerMetrics", ServerOnly, true, "On or Off"),
    SlowRequests => ("WSGISlowRequests", ServerOnly, true, "seconds (0 or more)"),
    SocketPrefix => ("WSGISocketPrefix", ServerOnly, true, "path prefix for daemon sockets"),
    SocketRotation => ("WSGISocketRotation", ServerOnly, true, "On or Off"),
    SwitchInterval => ("WSGISwitchInterval", ServerOnly, true, "seconds, e.g. 0.002"),
    TelemetryOptions => ("WSGITelemetryOptions", ServerOnly, true, "[+|-]Flag ..., None or All"),
    TelemetryService => ("WSGITelemetryService", ServerOnly, true, "unix:/path [interval=SECONDS]"),
    TrustedProxies => ("WSGITrustedProxies", AnyWithFileInfo, true, "address or network [...]"),
    TrustedProxyHeaders => ("WSGITrustedProxyHeaders", AnyWithFileInfo, true, "header [header ...]"),
}

impl Directive {
    pub fn spec(self) -> &'static DirectiveSpec {
        &DIRECTIVES[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.spec().name
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
        // 46 WSGI* directives plus the <WSGIInterpreterOptions> container.
        assert_eq!(DIRECTIVES.len(), 47);
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
