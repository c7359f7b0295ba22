//! `script-user=` / `script-group=`: before a request is handed to such a
//! daemon group, the Apache child checks who owns the WSGI script and its
//! directory and who may write to them, as the C module does: each failed
//! check is logged with the C module's code and wording, and the request
//! is refused with 403.

use crate::apache::request::Request;
use crate::config::daemon::UnixId;
use crate::sys::identity::{group_name, user_name};
use std::os::unix::fs::MetadataExt;

/// What a group demands of the scripts it runs.
#[derive(Debug, Clone, Default)]
pub struct ScriptOwnership {
    pub user: Option<UnixId>,
    pub group: Option<UnixId>,
}

const GROUP_WRITABLE: u32 = 0o020;
const WORLD_WRITABLE: u32 = 0o002;

/// Runs the checks for `req`'s script (`r->filename`); `Err` carries the
/// status to answer with, the reason already logged.
pub fn check(req: Request, required: &ScriptOwnership) -> Result<(), i32> {
    if required.user.is_none() && required.group.is_none() {
        return Ok(());
    }
    let script = req.filename();
    let refuse = |errno: i32, message: String| {
        req.log_script_error(errno, &message);
        Err(403)
    };
    let meta = match std::fs::metadata(&script) {
        Ok(meta) => meta,
        Err(_) if required.group.is_some() => {
            return refuse(
                0,
                "WSGI0153: Group information not available for WSGI script file.".into(),
            )
        }
        Err(_) => {
            return refuse(
                0,
                "WSGI0162: User information not available for WSGI script file.".into(),
            )
        }
    };
    // The directory as C's ap_make_dirstr_parent gives it: with its slash.
    let parent = match script.rfind('/') {
        Some(at) => script[..=at].to_string(),
        None => String::new(),
    };
    let parent_meta = || std::fs::metadata(&parent);
    if let Some(group) = &required.group {
        let required_name = group_id_name(group);
        let Some(name) = group_name(meta.gid()) else {
            return refuse(
                0,
                format!(
                    "WSGI0154: Unable to determine group of WSGI script file from gid {}.",
                    meta.gid()
                ),
            );
        };
        if Some(&name) != required_name.as_ref() {
            return refuse(0, format!("WSGI0155: WSGI script file group '{name}' does not match group required for daemon process."));
        }
        if meta.mode() & WORLD_WRITABLE != 0 {
            return refuse(0, "WSGI0157: WSGI script file is writable to world.".into());
        }
        let dir = match parent_meta() {
            Ok(dir) => dir,
            Err(e) => {
                return refuse(
                    e.raw_os_error().unwrap_or(0),
                    format!("WSGI0158: Unable to stat parent directory '{parent}' of WSGI script."),
                )
            }
        };
        let Some(name) = group_name(dir.gid()) else {
            return refuse(0, format!("WSGI0159: Unable to determine group of parent directory of WSGI script file from gid {}.", dir.gid()));
        };
        if Some(&name) != required_name.as_ref() {
            return refuse(0, format!("WSGI0160: Parent directory of WSGI script file has group '{name}' which does not match group required for daemon process."));
        }
        if dir.mode() & WORLD_WRITABLE != 0 {
            return refuse(
                0,
                "WSGI0161: Parent directory of WSGI script file is writable to world.".into(),
            );
        }
    }
    if let Some(user) = &required.user {
        let required_name = user_id_name(user);
        let Some(name) = user_name(meta.uid()) else {
            return refuse(
                0,
                format!(
                    "WSGI0163: Unable to determine owner of WSGI script file from uid {}.",
                    meta.uid()
                ),
            );
        };
        if Some(&name) != required_name.as_ref() {
            return refuse(0, format!("WSGI0164: WSGI script file owner '{name}' does not match user required for daemon process."));
        }
        if meta.mode() & GROUP_WRITABLE != 0 {
            return refuse(0, "WSGI0166: WSGI script file is writable to group.".into());
        }
        if meta.mode() & WORLD_WRITABLE != 0 {
            return refuse(0, "WSGI0168: WSGI script file is writable to world.".into());
        }
        let dir = match parent_meta() {
            Ok(dir) => dir,
            Err(e) => {
                return refuse(
                    e.raw_os_error().unwrap_or(0),
                    format!("WSGI0169: Unable to stat parent directory '{parent}' of WSGI script."),
                )
            }
        };
        let Some(name) = user_name(dir.uid()) else {
            return refuse(0, format!("WSGI0170: Unable to determine owner of parent directory of WSGI script file from uid {}.", dir.uid()));
        };
        if Some(&name) != required_name.as_ref() {
            return refuse(0, format!("WSGI0171: Parent directory of WSGI script file has owner '{name}' which does not match user required for daemon process."));
        }
        if dir.mode() & WORLD_WRITABLE != 0 {
            return refuse(
                0,
                "WSGI0172: Parent directory of WSGI script file is writable to world.".into(),
            );
        }
        if dir.mode() & GROUP_WRITABLE != 0 {
            return refuse(
                0,
                "WSGI0173: Parent directory of WSGI script file is writable to group.".into(),
            );
        }
    }
    Ok(())
}

/// The user name `script-user=` stands for (`#uid` looked up).
fn user_id_name(id: &UnixId) -> Option<String> {
    match id {
        UnixId::Name(name) => Some(name.clone()),
        UnixId::Id(uid) => user_name(*uid),
    }
}

/// The group name `script-group=` stands for (`#gid` looked up).
fn group_id_name(id: &UnixId) -> Option<String> {
    match id {
        UnixId::Name(name) => Some(name.clone()),
        UnixId::Id(gid) => group_name(*gid),
    }
}
