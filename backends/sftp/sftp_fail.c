/*
 * The SFTP backend's error lines: what a failed libcurl request means
 * (sftp_classify) and how to say it, naming the operation, the remote
 * path and host:port.  Host key and login failures get their own
 * explanations, because libcurl says little about them (a refused host
 * key leaves its error buffer empty), and each ends with a HINT of what to
 * do.  Nothing here ever prints a password or passphrase.
 */
#include "backends/sftp/sftp_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum result sftp_classify(CURLcode rc, const char *errbuf)
{
	const char *eb = errbuf ? errbuf : "";
	switch (rc) {
	case CURLE_OK:
		return CB_OK;
	case CURLE_OUT_OF_MEMORY:
		return CB_ERR_NOMEM;
	case CURLE_ABORTED_BY_CALLBACK:
		return CB_ERR_INTERRUPTED;
	case CURLE_REMOTE_FILE_NOT_FOUND:
		return CB_ERR_NOT_FOUND;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
		return CB_ERR_CONFIG;
	case CURLE_LOGIN_DENIED:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_REMOTE_ACCESS_DENIED:
		return CB_ERR_REMOTE;
	case CURLE_FAILED_INIT:
		/* libcurl reports a failed SSH handshake so: no algorithm in
		 * common is for good, a dropped connection is not. */
		if (strstr(eb, "Unable to exchange encryption keys") || strstr(eb, ": -5,"))
			return CB_ERR_REMOTE;
		return CB_ERR_RETRY;
	case CURLE_QUOTE_ERROR:
		if (strstr(eb, "Permission denied") || strstr(eb, "write protected"))
			return CB_ERR_REMOTE;
		return CB_ERR_RETRY;
	default:
		/* Connection refused or reset, timeouts, a dead session, a full
		 * disk: all may pass. */
		return CB_ERR_RETRY;
	}
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

void sftp_host_pattern(const struct sftp *s, char *out, size_t size)
{
	if (s->url.port == 22)
		snprintf(out, size, "%s", s->url.host_plain);
	else
		snprintf(out, size, "[%s]:%ld", s->url.host_plain, s->url.port);
}

static void hostkey_why(struct sftp *s, struct sftp_conn *c, char *out, size_t size)
{
	const struct sftp_hostkey_seen *k = &c->hostkey;
	char pattern[300];
	sftp_host_pattern(s, pattern, sizeof(pattern));
	if (s->pin[0]) {
		/* libcurl: "... mismatch SHA256 fingerprint. Remote <b64> is not
		 * equal to <pin>" */
		char offered[64] = "?";
		const char *p = strstr(c->errbuf, "Remote ");
		if (p)
			snprintf(offered, sizeof(offered), "%.*s", (int)strcspn(p + 7, " "), p + 7);
		while (strlen(offered) > 1 && offered[strlen(offered) - 1] == '=')
			offered[strlen(offered) - 1] = '\0';
		snprintf(out, size,
			 "the server's host key does not match host_key_sha256: it offers "
			 "SHA256:%s, the configuration pins SHA256:%s; HINT: if the server's key "
			 "was changed on purpose, confirm the new fingerprint with its "
			 "administrator and update host_key_sha256",
			 offered, s->pin);
		return;
	}
	if (!k->called) {
		snprintf(out, size, "the server's host key could not be checked: %s",
			 c->errbuf[0] ? c->errbuf : "libcurl refused it");
		return;
	}
	char type[32];
	snprintf(type, sizeof(type), "%s", sftp_khtype_name(k->keytype));
	if (k->revoked) {
		snprintf(out, size,
			 "the server's host key (%s key %s) is marked @revoked in known_hosts '%s'; "
			 "HINT: the server must get a new host key; then add that one",
			 type, k->found, s->known_hosts);
		return;
	}
	if (k->match == CURLKHMATCH_MISMATCH) {
		snprintf(out, size,
			 "the server's host key has CHANGED: it offers %s key %s, but "
			 "known_hosts '%s' has %s for %s; someone may be intercepting the "
			 "connection, or the server was reinstalled; HINT: if the change is "
			 "expected, confirm the new fingerprint with the server's administrator, "
			 "then run ssh-keygen -R '%s' -f '%s' and add the new key",
			 type, k->found, s->known_hosts, k->known[0] ? k->known : "another key",
			 pattern, pattern, s->known_hosts);
		return;
	}
	char lt[32];
	snprintf(lt, sizeof(lt), "%s", type);
	lower(lt);
	const char *note = s->kh_missing ? " (there is no such file)"
			   : s->kh.rsa_only_skipped
				   ? " (it has only an RSA key for it, which libssh2 1.10 cannot verify)"
				   : "";
	snprintf(out, size,
		 "the server's host key is unknown: its %s key %s is not in known_hosts "
		 "'%s'%s; HINT: confirm the fingerprint with the server's administrator, then "
		 "add the key (ssh-keyscan -p %ld -t %s %s >> '%s') or set host_key_sha256 = %s",
		 type, k->found, s->known_hosts, note, s->url.port, lt, s->url.host_plain,
		 s->known_hosts, k->found);
}

static void login_why(struct sftp *s, char *out, size_t size)
{
	const char *type = NULL;
	if (s->private_key) {
		type = s->public_key ? sftp_key_file_type(s->public_key, NULL) : NULL;
		if (!type)
			type = sftp_key_file_type(s->private_key, NULL);
	}
	char refused[600];
	if (s->private_key && s->password)
		snprintf(refused, sizeof(refused),
			 "accepted neither the private key '%s' nor the password", s->private_key);
	else if (s->private_key)
		snprintf(refused, sizeof(refused), "did not accept the private key '%s'",
			 s->private_key);
	else
		snprintf(refused, sizeof(refused), "did not accept the password");
	snprintf(out, size,
		 "login as '%s' failed: the server %s; HINT: add the public key to that user's "
		 "authorized_keys on the server, and check private_key_passphrase%s",
		 s->url.user, refused,
		 type && strcmp(type, "ssh-rsa") == 0
			 ? "; this is an RSA key, which libssh2 1.10 signs with SHA-1 (ssh-rsa), "
			   "refused by OpenSSH 8.8 and later: use an ed25519 or ECDSA key"
			 : "");
}

enum result sftp_fail(struct sftp *s, struct sftp_conn *c, CURLcode rc, struct error *err,
		      const char *fmt, ...)
{
	char what[ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	enum result code = sftp_classify(rc, c->errbuf);
	char why[ERROR_MSG_MAX];
	const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		hostkey_why(s, c, why, sizeof(why));
		break;
	case CURLE_LOGIN_DENIED:
		login_why(s, why, sizeof(why));
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(why, sizeof(why), "%s; HINT: is the SSH server on %s up and reachable?",
			 detail, s->where);
		break;
	case CURLE_ABORTED_BY_CALLBACK:
		snprintf(why, sizeof(why), "interrupted");
		break;
	case CURLE_FAILED_INIT:
		if (code == CB_ERR_REMOTE) {
			snprintf(why, sizeof(why),
				 "%s; HINT: the server and libssh2 share no key exchange or host key "
				 "algorithm (libssh2 1.10 cannot check RSA host keys signed with "
				 "SHA-2; give the server an ed25519 or ECDSA host key, and list that "
				 "one in known_hosts)",
				 detail);
			break;
		}
		if (strstr(detail, "Failed getting banner")) {
			/* A server that is not sshd, or an sshd turning connections
			 * away for now (MaxStartups): worth retrying, but say it. */
			snprintf(why, sizeof(why),
				 "%s (no SSH greeting); HINT: check that the port in url is an SSH "
				 "server's",
				 detail);
			break;
		}
		snprintf(why, sizeof(why), "%s", detail);
		break;
	default:
		snprintf(why, sizeof(why), "%s", detail);
		break;
	}
	return error_set(err, code, "%s on %s: %s", what, s->where, why);
}
