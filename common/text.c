/*
 * Escaping untrusted text for terminals and logs (see text.h).
 */
#include "common/text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length of the well-formed, printable UTF-8 sequence at s (2..4 bytes), or
 * 0 if the bytes there are not one (overlong, surrogate, truncated, C1). */
static size_t utf8_len(const unsigned char *s)
{
	uint32_t cp;
	size_t n;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1fu;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0fu;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07u;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return n;
}

bool text_escape(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)in;
	bool clean = true;
	size_t o = 0;
	if (size == 0)
		return text_is_clean(in);
	while (*p) {
		size_t n = 1;
		bool keep = *p >= 0x20 && *p < 0x7f;
		if (*p >= 0x80 && (n = utf8_len(p)) > 0)
			keep = true;
		if (keep) {
			if (o + n >= size)
				break;
			memcpy(out + o, p, n);
			o += n;
			p += n;
			continue;
		}
		clean = false;
		if (o + 4 >= size)
			break;
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[*p >> 4];
		out[o++] = hex[*p & 15];
		p++;
	}
	out[o] = '\0';
	return clean && !*p;
}

bool text_is_clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (*p >= 0x20 && *p < 0x7f) {
			p++;
			continue;
		}
		size_t n = *p >= 0x80 ? utf8_len(p) : 0;
		if (!n)
			return false;
		p += n;
	}
	return true;
}

void text_escape_inplace(char *s, size_t size)
{
	if (text_is_clean(s))
		return;
	char tmp[4096];
	char *buf = tmp;
	if (size > sizeof(tmp))
		size = sizeof(tmp);
	text_escape(s, buf, size);
	memcpy(s, buf, strlen(buf) + 1);
}

void format_size(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	int u = 0;
	while (v >= 1024.0 && u < 4) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, size, v < 10 ? "%.2f %s" : "%.1f %s", v, units[u]);
}
