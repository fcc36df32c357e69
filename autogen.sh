#!/bin/sh
# autogen.sh: generates ./configure from configure.ac and Makefile.am (needs autoconf, automake).
# Autoconf's compile checks clean up with `rm -f core ...`, which prints "cannot remove 'core':
# Is a directory" two dozen times when configure runs in this tree (core/ is the compute core's
# source): the generated script is edited to leave a file named core alone (only a crashed
# check's core dump could be one).
set -e
cd "$(dirname "$0")"
autoreconf --install --force
sed -e 's/rm -f core \*\.core /rm -f *.core /' -e 's/rm -f core conftest/rm -f conftest/' \
    configure >configure.tmp
mv configure.tmp configure
chmod +x configure
