/* hex.h: the value of one hexadecimal digit, for the decoders that read them (JSON \uXXXX
 * escapes in json_scan.c and json_walk.c, percent-escapes in query.c). Header only. */
#ifndef HBN_HEX_H
#define HBN_HEX_H

/* The value (0-15) of hex digit C in either case, or -1 when C is not one. */
static inline int hbn_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
