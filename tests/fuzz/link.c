/* fuzz the Link header parser (pagination: rel="next") */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *next = NULL;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (http_link_next(&next, s) == 0 && next) {
		/* the target is taken from between <>, never invented */
		assert(*next && !strchr(next, '<') && !strchr(next, '>'));
		assert(strstr(s, next));
	}
	free(next);
	free(s);
	return 0;
}
