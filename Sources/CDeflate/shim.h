// libdeflate (Debian's libdeflate-dev): the CRC-32 of DLQ records and persisted-queue elements, computed with
// carry-less multiplication (PCLMULQDQ) where the processor has it.
#include <libdeflate.h>
