/* The Apache and APR API surface that mod_wsgi binds through bindgen. */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <http_protocol.h>
#include <http_request.h>
#include <ap_mpm.h>
#include <ap_release.h>
#include <util_script.h>
#include <util_filter.h>
#include <mpm_common.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_buckets.h>
