/* fuzz the Retry-After parser (delta-seconds or an HTTP date) */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	long secs = -1;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	/* a fixed "now" keeps runs reproducible */
	if (http_retry_after(&secs, s, (time_t)1795000000) == 0)
		assert(secs >= 0);
	free(s);
	return 0;
}
