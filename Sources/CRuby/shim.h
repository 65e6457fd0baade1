#ifndef SLUICE_CRUBY_SHIM_H
#define SLUICE_CRUBY_SHIM_H
// libruby 3.1 (Debian's ruby3.1-dev, pkg-config ruby-3.1): the headers CSluiceRuby's glue is compiled against.
// Swift code does not import this module; it talks to Ruby only through CSluiceRuby's narrow interface.
#include <ruby.h>
#endif
