// zlib (Debian's zlib1g-dev), for gzip request bodies of the HTTP outputs.
#include <zlib.h>
