"""Names the C library declares where the generated code can see them.

The generated headers include <stdbool.h>, <stddef.h>, <stdint.h> and
<lrpc/rpc.h>, which brings in <sys/types.h> and <sys/uio.h>; the generated
sources add <errno.h> and <string.h>; <limits.h> is here too, since a
program including a generated header is likely to include it.  Every
identifier these declare (types, functions, variables, enumerators, struct
tags and macros, with _GNU_SOURCE as the widest feature set) that a
generated name could ever be, lower case or upper case with digits and
single underscores, is listed, with the header that declares it.  A
generated global C name on this list is an error at its IDL declaration
(scope.Names.claim), since it would redefine or clash with the library's.

The lists were taken from glibc 2.36 and gcc 12 (Debian 12);
tests/codegen/test_reserved.py compares them with the headers of the
machine the tests run on, so a name a newer library adds is noticed.
"""

from __future__ import annotations

from typing import Dict

_BY_HEADER = {
    "<stdbool.h>": """
    bool false true
""",
    "<stddef.h>": """
    NULL max_align_t offsetof ptrdiff_t size_t wchar_t
""",
    "<stdint.h>": """
    INT16_C INT16_MAX INT16_MIN INT16_WIDTH INT32_C INT32_MAX INT32_MIN
    INT32_WIDTH INT64_C INT64_MAX INT64_MIN INT64_WIDTH INT8_C INT8_MAX
    INT8_MIN INT8_WIDTH INTMAX_C INTMAX_MAX INTMAX_MIN INTMAX_WIDTH
    INTPTR_MAX INTPTR_MIN INTPTR_WIDTH INT_FAST16_MAX INT_FAST16_MIN
    INT_FAST16_WIDTH INT_FAST32_MAX INT_FAST32_MIN INT_FAST32_WIDTH
    INT_FAST64_MAX INT_FAST64_MIN INT_FAST64_WIDTH INT_FAST8_MAX
    INT_FAST8_MIN INT_FAST8_WIDTH INT_LEAST16_MAX INT_LEAST16_MIN
    INT_LEAST16_WIDTH INT_LEAST32_MAX INT_LEAST32_MIN INT_LEAST32_WIDTH
    INT_LEAST64_MAX INT_LEAST64_MIN INT_LEAST64_WIDTH INT_LEAST8_MAX
    INT_LEAST8_MIN INT_LEAST8_WIDTH PTRDIFF_MAX PTRDIFF_MIN
    PTRDIFF_WIDTH SIG_ATOMIC_MAX SIG_ATOMIC_MIN SIG_ATOMIC_WIDTH
    SIZE_MAX SIZE_WIDTH UINT16_C UINT16_MAX UINT16_WIDTH UINT32_C
    UINT32_MAX UINT32_WIDTH UINT64_C UINT64_MAX UINT64_WIDTH UINT8_C
    UINT8_MAX UINT8_WIDTH UINTMAX_C UINTMAX_MAX UINTMAX_WIDTH
    UINTPTR_MAX UINTPTR_WIDTH UINT_FAST16_MAX UINT_FAST16_WIDTH
    UINT_FAST32_MAX UINT_FAST32_WIDTH UINT_FAST64_MAX UINT_FAST64_WIDTH
    UINT_FAST8_MAX UINT_FAST8_WIDTH UINT_LEAST16_MAX UINT_LEAST16_WIDTH
    UINT_LEAST32_MAX UINT_LEAST32_WIDTH UINT_LEAST64_MAX
    UINT_LEAST64_WIDTH UINT_LEAST8_MAX UINT_LEAST8_WIDTH WCHAR_MAX
    WCHAR_MIN WCHAR_WIDTH WINT_MAX WINT_MIN WINT_WIDTH int16_t int32_t
    int64_t int8_t int_fast16_t int_fast32_t int_fast64_t int_fast8_t
    int_least16_t int_least32_t int_least64_t int_least8_t intmax_t
    intptr_t uint16_t uint32_t uint64_t uint8_t uint_fast16_t
    uint_fast32_t uint_fast64_t uint_fast8_t uint_least16_t
    uint_least32_t uint_least64_t uint_least8_t uintmax_t uintptr_t
""",
    "<limits.h>": """
    AIO_PRIO_DELTA_MAX BC_BASE_MAX BC_DIM_MAX BC_SCALE_MAX BC_STRING_MAX
    BOOL_MAX BOOL_WIDTH CHARCLASS_NAME_MAX CHAR_BIT CHAR_MAX CHAR_MIN
    CHAR_WIDTH COLL_WEIGHTS_MAX DELAYTIMER_MAX EXPR_NEST_MAX
    HOST_NAME_MAX INT_MAX INT_MIN INT_WIDTH IOV_MAX LINE_MAX LLONG_MAX
    LLONG_MIN LLONG_WIDTH LOGIN_NAME_MAX LONG_BIT LONG_LONG_MAX
    LONG_LONG_MIN LONG_MAX LONG_MIN LONG_WIDTH MAX_CANON MAX_INPUT
    MB_LEN_MAX MQ_PRIO_MAX NAME_MAX NGROUPS_MAX NL_ARGMAX NL_LANGMAX
    NL_MSGMAX NL_NMAX NL_SETMAX NL_TEXTMAX NZERO PATH_MAX PIPE_BUF
    PTHREAD_DESTRUCTOR_ITERATIONS PTHREAD_KEYS_MAX PTHREAD_STACK_MIN
    RE_DUP_MAX RTSIG_MAX SCHAR_MAX SCHAR_MIN SCHAR_WIDTH SEM_VALUE_MAX
    SHRT_MAX SHRT_MIN SHRT_WIDTH SSIZE_MAX TTY_NAME_MAX UCHAR_MAX
    UCHAR_WIDTH UINT_MAX UINT_WIDTH ULLONG_MAX ULLONG_WIDTH
    ULONG_LONG_MAX ULONG_MAX ULONG_WIDTH USHRT_MAX USHRT_WIDTH WORD_BIT
    XATTR_LIST_MAX XATTR_NAME_MAX XATTR_SIZE_MAX
""",
    "<errno.h>": """
    E2BIG EACCES EADDRINUSE EADDRNOTAVAIL EADV EAFNOSUPPORT EAGAIN
    EALREADY EBADE EBADF EBADFD EBADMSG EBADR EBADRQC EBADSLT EBFONT
    EBUSY ECANCELED ECHILD ECHRNG ECOMM ECONNABORTED ECONNREFUSED
    ECONNRESET EDEADLK EDEADLOCK EDESTADDRREQ EDOM EDOTDOT EDQUOT EEXIST
    EFAULT EFBIG EHOSTDOWN EHOSTUNREACH EHWPOISON EIDRM EILSEQ
    EINPROGRESS EINTR EINVAL EIO EISCONN EISDIR EISNAM EKEYEXPIRED
    EKEYREJECTED EKEYREVOKED EL2HLT EL2NSYNC EL3HLT EL3RST ELIBACC
    ELIBBAD ELIBEXEC ELIBMAX ELIBSCN ELNRNG ELOOP EMEDIUMTYPE EMFILE
    EMLINK EMSGSIZE EMULTIHOP ENAMETOOLONG ENAVAIL ENETDOWN ENETRESET
    ENETUNREACH ENFILE ENOANO ENOBUFS ENOCSI ENODATA ENODEV ENOENT
    ENOEXEC ENOKEY ENOLCK ENOLINK ENOMEDIUM ENOMEM ENOMSG ENONET ENOPKG
    ENOPROTOOPT ENOSPC ENOSR ENOSTR ENOSYS ENOTBLK ENOTCONN ENOTDIR
    ENOTEMPTY ENOTNAM ENOTRECOVERABLE ENOTSOCK ENOTSUP ENOTTY ENOTUNIQ
    ENXIO EOPNOTSUPP EOVERFLOW EOWNERDEAD EPERM EPFNOSUPPORT EPIPE
    EPROTO EPROTONOSUPPORT EPROTOTYPE ERANGE EREMCHG EREMOTE EREMOTEIO
    ERESTART ERFKILL EROFS ESHUTDOWN ESOCKTNOSUPPORT ESPIPE ESRCH ESRMNT
    ESTALE ESTRPIPE ETIME ETIMEDOUT ETOOMANYREFS ETXTBSY EUCLEAN EUNATCH
    EUSERS EWOULDBLOCK EXDEV EXFULL errno error_t
    program_invocation_name program_invocation_short_name
""",
    "<string.h>": """
    basename bcmp bcopy bzero explicit_bzero ffs ffsl ffsll index
    locale_t memccpy memchr memcmp memcpy memfrob memmem memmove mempcpy
    memrchr memset rawmemchr rindex sigabbrev_np sigdescr_np stpcpy
    stpncpy strcasecmp strcasecmp_l strcasestr strcat strchr strchrnul
    strcmp strcoll strcoll_l strcpy strcspn strdup strdupa strerror
    strerror_l strerror_r strerrordesc_np strerrorname_np strfry strlen
    strncasecmp strncasecmp_l strncat strncmp strncpy strndup strndupa
    strnlen strpbrk strrchr strsep strsignal strspn strstr strtok
    strtok_r strverscmp strxfrm strxfrm_l
""",
    "<sys/types.h>": """
    BIG_ENDIAN BYTE_ORDER FD_CLR FD_ISSET FD_SET FD_SETSIZE FD_ZERO
    LITTLE_ENDIAN NFDBITS PDP_ENDIAN be16toh be32toh be64toh blkcnt64_t
    blkcnt_t blksize_t caddr_t clock_t clockid_t daddr_t dev_t fd_mask
    fd_set fsblkcnt64_t fsblkcnt_t fsfilcnt64_t fsfilcnt_t fsid_t gid_t
    htobe16 htobe32 htobe64 htole16 htole32 htole64 id_t ino64_t ino_t
    key_t le16toh le32toh le64toh loff_t mode_t nlink_t off64_t off_t
    pid_t pselect pthread_attr_t pthread_barrier_t pthread_barrierattr_t
    pthread_cond_t pthread_condattr_t pthread_key_t pthread_mutex_t
    pthread_mutexattr_t pthread_once_t pthread_rwlock_t
    pthread_rwlockattr_t pthread_spinlock_t pthread_t quad_t register_t
    select sigset_t ssize_t suseconds_t time_t timer_t timespec timeval
    u_char u_int u_int16_t u_int32_t u_int64_t u_int8_t u_long u_quad_t
    u_short uid_t uint ulong useconds_t ushort
""",
    "<sys/uio.h>": """
    RWF_APPEND RWF_DSYNC RWF_HIPRI RWF_NOAPPEND RWF_NOWAIT RWF_SYNC
    UIO_MAXIOV iovec preadv preadv2 preadv64 preadv64v2 process_vm_readv
    process_vm_writev pwritev pwritev2 pwritev64 pwritev64v2 readv
    writev
""",
    "the compiler": """
    linux unix
""",
}

# Name -> where it comes from ("<stdint.h>", "the compiler").
C_RESERVED: Dict[str, str] = {
    name: header for header, names in _BY_HEADER.items()
    for name in names.split()}
