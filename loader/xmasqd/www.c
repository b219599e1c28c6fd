// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The page's files: every file under loader/xmasqd/www/ is embedded at
 * build time (embed_www.sh writes build/www/www_data.c), so the binary
 * needs nothing beside it and serves exactly what was built. */
#include <string.h>
#include "xmasqd.h"

const struct xmd_asset *xmd_asset_find(const char *url)
{
	if (!strcmp(url, "/"))
		url = "/index.html";
	for (const struct xmd_asset *a = xmd_assets; a->path; a++)
		if (!strcmp(a->path, url))
			return a;
	return NULL;
}

const char *xmd_content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".woff2", "font/woff2" },
	};
	size_t plen = strlen(path);

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t elen = strlen(types[i].ext);

		if (plen > elen && !strcmp(path + plen - elen, types[i].ext))
			return types[i].type;
	}
	return "application/octet-stream";
}
