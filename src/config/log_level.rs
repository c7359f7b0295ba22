//! Apache's log levels, as the numbers httpd uses (`APLOG_*`). Pure, so
//! the layers unit-tested without Apache can name the level of a line.

pub const APLOG_EMERG: i32 = 0;
pub const APLOG_ALERT: i32 = 1;
pub const APLOG_CRIT: i32 = 2;
pub const APLOG_ERR: i32 = 3;
pub const APLOG_WARNING: i32 = 4;
pub const APLOG_INFO: i32 = 6;
pub const APLOG_DEBUG: i32 = 7;
pub const APLOG_TRACE1: i32 = 8;
