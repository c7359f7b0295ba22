//! Apache's command table, built at compile time from the directive table,
//! and the one callback that feeds every directive to the typed config.

use super::{c_str, ffi, pool};
use crate::config::directives::{Context, DirectiveSpec, DIRECTIVE_SPECS};
use crate::config::interp_options::InterpreterOptions;
use crate::config::{words, ConfigError, DirConfig, Directive, ServerConfig};
use std::ffi::{c_char, c_void};

const COUNT: usize = DIRECTIVE_SPECS.len();

/// The command table handed to Apache; raw pointers into static data.
#[repr(transparent)]
pub struct CommandTable(pub [ffi::command_rec; COUNT + 1]);
// SAFETY: the table is immutable and only points at 'static data.
unsafe impl Sync for CommandTable {}

const fn req_override(context: Context) -> i32 {
    (match context {
        Context::ServerOnly | Context::ServerOrVhost => ffi::RSRC_CONF,
        Context::AnyButHtaccess => ffi::RSRC_CONF | ffi::ACCESS_CONF,
        Context::AnyWithFileInfo => ffi::RSRC_CONF | ffi::ACCESS_CONF | ffi::OR_FILEINFO,
        Context::DirWithAuthConfig => ffi::ACCESS_CONF | ffi::OR_AUTHCFG,
    }) as i32
}

const fn build_table() -> [ffi::command_rec; COUNT + 1] {
    const EMPTY: ffi::command_rec = ffi::command_rec {
        name: std::ptr::null(),
        func: ffi::cmd_func { raw_args: None },
        cmd_data: std::ptr::null_mut(),
        req_override: 0,
        args_how: 0,
        errmsg: std::ptr::null(),
    };
    let mut table = [EMPTY; COUNT + 1];
    let mut i = 0;
    while i < COUNT {
        let spec: &DirectiveSpec = &DIRECTIVE_SPECS[i];
        table[i] = ffi::command_rec {
            name: spec.c_name.as_ptr(),
            func: ffi::cmd_func {
                raw_args: Some(on_directive),
            },
            cmd_data: std::ptr::without_provenance_mut(i),
            req_override: req_override(spec.context),
            args_how: ffi::cmd_how_RAW_ARGS,
            errmsg: spec.c_syntax.as_ptr(),
        };
        i += 1;
    }
    table
}

pub static COMMANDS: CommandTable = CommandTable(build_table());

/// # Safety
/// `args` is a NUL-terminated string.
unsafe fn args_text(args: *const c_char) -> String {
    // SAFETY: Apache passes the NUL-terminated rest of the directive line.
    unsafe { c_str(args) }.into_owned()
}

/// A directive's words: plain words, or for directives with `name=value`
/// options, their positional words and then options with unquoted values.
fn directive_words(directive: Directive, line: &str) -> Vec<String> {
    match directive.positional_words() {
        Some(positional) => words::split_with_options(line, positional),
        None => words::split_words(line),
    }
}

/// # Safety
/// `v` is a `module_config` vector of a live server or directory.
pub unsafe fn module_config<T>(v: *mut ffi::ap_conf_vector_t) -> *mut T {
    let index = super::module_index() as usize;
    // SAFETY: the vector has a slot for every loaded module, ours at the
    // index Apache assigned.
    unsafe { *(v as *mut *mut c_void).add(index) as *mut T }
}

fn error_string(pool: *mut ffi::apr_pool_t, error: &ConfigError) -> *const c_char {
    // SAFETY: `pool` is cmd->pool, alive for the whole configuration read.
    unsafe { pool::strdup(pool, &error.to_string()) }
}

/// The single `RAW_ARGS` callback for every directive.
unsafe extern "C" fn on_directive(
    cmd: *mut ffi::cmd_parms,
    mconfig: *mut c_void,
    args: *const c_char,
) -> *const c_char {
    // SAFETY: Apache passes a live cmd_parms whose `info` is our index.
    let cmd_ref = unsafe { &*cmd };
    let spec = &DIRECTIVE_SPECS[cmd_ref.info as usize];
    let forbidden = match spec.context {
        Context::ServerOnly => ffi::GLOBAL_ONLY,
        Context::ServerOrVhost => ffi::NOT_IN_DIR_LOC_FILE,
        _ => 0,
    };
    if forbidden != 0 {
        // SAFETY: standard context check on the live cmd_parms.
        let err = unsafe { ffi::ap_check_cmd_context(cmd, forbidden) };
        if !err.is_null() {
            return err;
        }
    }
    // SAFETY: `args` is the NUL-terminated rest of the directive line.
    let line = unsafe { args_text(args) };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if spec.id == Directive::InterpreterOptions {
            // SAFETY: server config of the server being configured.
            let server = unsafe {
                &mut *module_config::<ServerConfig>(cmd_ref.server.as_ref().unwrap().module_config)
            };
            // SAFETY: cmd->directive is the container node being executed.
            unsafe { read_interpreter_options(cmd_ref, &line, server) }
        } else if spec.context.is_per_directory() {
            // SAFETY: for per-directory directives Apache passes our DirConfig.
            let dir = unsafe { &mut *(mconfig as *mut DirConfig) };
            dir.apply(spec.id, &directive_words(spec.id, &line))
        } else {
            // SAFETY: server config of the server being configured.
            let server = unsafe {
                &mut *module_config::<ServerConfig>(cmd_ref.server.as_ref().unwrap().module_config)
            };
            server.apply(spec.id, &directive_words(spec.id, &line))
        }
    }));
    match result {
        Ok(Ok(())) => {
            if spec.id == Directive::VerboseDebugging {
                crate::apache::log::server_log(
                    cmd_ref.server,
                    super::log::APLOG_INFO,
                    "WSGIVerboseDebugging is deprecated and has no effect. Use \
                     'LogLevel info wsgi_module:debug' for lifecycle messages and \
                     'LogLevel info wsgi_module:trace1' for per-request and \
                     per-thread-binding messages.",
                );
            }
            std::ptr::null()
        }
        Ok(Err(e)) => error_string(cmd_ref.pool, &e),
        Err(_) => error_string(
            cmd_ref.pool,
            &ConfigError::invalid(spec.name, "internal error while parsing (please report)"),
        ),
    }
}

/// Parses `<WSGIInterpreterOptions ...>` and the directives nested in it,
/// which Apache has already collected as the node's children.
///
/// # Safety
/// `cmd.directive` is the live container node.
unsafe fn read_interpreter_options(
    cmd: &ffi::cmd_parms,
    line: &str,
    server: &mut ServerConfig,
) -> Result<(), ConfigError> {
    const NAME: &str = "<WSGIInterpreterOptions>";
    // The closing '>' comes off before the options are read, so a quoted
    // last value (`application-group='x'>`) reads as `x`.
    let Some(inside) = line.trim_end().strip_suffix('>') else {
        return Err(ConfigError::invalid(NAME, "directive missing closing '>'"));
    };
    let header = directive_words(Directive::InterpreterOptions, inside);
    let mut options = InterpreterOptions::parse_header(&header)?;
    // SAFETY: children of the live container node, allocated in the config pool.
    let mut child = unsafe { (*cmd.directive).first_child };
    while !child.is_null() {
        // SAFETY: `child` is a node of Apache's config tree.
        let node = unsafe { &*child };
        // SAFETY: node strings are NUL-terminated pool strings.
        let name = unsafe { c_str(node.directive) }.into_owned();
        // SAFETY: as above.
        let words = words::split_words(&unsafe { c_str(node.args) });
        options
            .apply_line(&name, &words)
            .map_err(|e| ConfigError::invalid(NAME, format!("line {}: {e}", node.line_num)))?;
        child = node.next;
    }
    server.global.interpreter_options.push(options);
    Ok(())
}
