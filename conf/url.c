/*
 * URLs, for the CONF_URL values of remote keys: the shape such a value must
 * have, what its authority holds (the loader refuses credentials written
 * into it), and whether a host is this machine (plain http:// to any other
 * is worth a warning).
 */
#include "conf/loader.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

/* "scheme://something": a scheme as RFC 3986 spells it, then a non-empty
 * rest with no spaces or control characters. */
bool conf_url_valid(const char *s)
{
	const char *p = s;
	if (!isalpha((unsigned char)*p))
		return false;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	if (strncmp(p, "://", 3) != 0 || !p[3])
		return false;
	for (p += 3; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* The authority of "scheme://[userinfo@]host[:port]/...": RFC 3986 ends it
 * at the first "/", "?" or "#", and the userinfo at the last "@" in it. */
void ld_url_split(const char *url, struct ld_url *out)
{
	memset(out, 0, sizeof(*out));
	const char *sep = strstr(url, "://");
	if (!sep || sep == url || (size_t)(sep - url) >= sizeof(out->scheme))
		return;
	for (size_t i = 0; url + i < sep; i++)
		out->scheme[i] = (char)tolower((unsigned char)url[i]);
	const char *auth = sep + 3;
	size_t alen = strcspn(auth, "/?#");
	const char *host = auth, *at = NULL;
	for (const char *p = auth; p < auth + alen; p++)
		if (*p == '@')
			at = p;
	if (at) {
		out->has_user = true;
		out->has_password = memchr(auth, ':', (size_t)(at - auth)) != NULL;
		host = at + 1;
	}
	size_t hlen = (size_t)(auth + alen - host);
	if (hlen && host[0] == '[') {
		const char *close = memchr(host, ']', hlen);
		hlen = close ? (size_t)(close - host - 1) : hlen - 1;
		host++;
	} else {
		const char *colon = memchr(host, ':', hlen);
		if (colon)
			hlen = (size_t)(colon - host);
	}
	if (hlen >= sizeof(out->host))
		hlen = sizeof(out->host) - 1;
	for (size_t i = 0; i < hlen; i++)
		out->host[i] = (char)tolower((unsigned char)host[i]);
}

bool ld_host_is_loopback(const char *host)
{
	unsigned char a[16];
	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) != 1)
		return false;
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char one[16] = {[15] = 1};
	return memcmp(a, one, 16) == 0 || (memcmp(a, mapped, 12) == 0 && a[12] == 127);
}
