# atrium_discover_tests(): registers every doctest TEST_CASE of a test binary as
# one ctest test, like Debian's doctest_discover_tests(), with what that one
# lacks:
#  * the listing that decides which cases get registered honours
#    EXCLUDE_SUITES (and ENVIRONMENT, so a suite that skips itself for another
#    backend is not registered either) - doctest_discover_tests() passes its
#    EXTRA_ARGS only to the test runs, so excluded cases were still registered,
#    ran zero cases and passed;
#  * test names with ';' or '[' stay one test (doctest_discover_tests() split
#    "a; b" into two tests that each ran nothing and passed);
#  * a run that executes no test case fails (FAIL_REGULAR_EXPRESSION);
#  * several ENVIRONMENT entries, and any other test properties.
#
#   atrium_discover_tests(<target>
#     [PREFIX <name prefix>]              # default "<target>:"
#     [EXCLUDE_SUITES <suite>...]         # --test-suite-exclude at listing and run time
#     [ENVIRONMENT <VAR=value>...]        # set for the listing and for every test
#     [LABELS <label>...]                 # added to the TEST_SUITE labels
#     [PROPERTIES <name> <value>...])     # other ctest properties (FIXTURES_REQUIRED ...)
#
# The listing runs as a POST_BUILD step: a binary that crashes at start-up fails
# the build, and a binary with no (remaining) test case fails it too.

set(_ATRIUM_DOCTEST_ADD_TESTS "${CMAKE_CURRENT_LIST_DIR}/AtriumDoctestAddTests.cmake")

function(_atrium_bracket out value)
  set(eq "=")
  while(value MATCHES "]${eq}]")
    string(APPEND eq "=")
  endwhile()
  set(${out} "[${eq}[${value}]${eq}]" PARENT_SCOPE)
endfunction()

function(atrium_discover_tests target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "PREFIX" "EXCLUDE_SUITES;ENVIRONMENT;LABELS;PROPERTIES")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "atrium_discover_tests: unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT DEFINED arg_PREFIX)
    set(arg_PREFIX "${target}:")
  endif()
  string(MAKE_C_IDENTIFIER "${target}_${arg_PREFIX}" id)
  set(settings_file "${CMAKE_CURRENT_BINARY_DIR}/${id}_settings.cmake")
  set(tests_file "${CMAKE_CURRENT_BINARY_DIR}/${id}_tests.cmake")
  set(include_file "${CMAKE_CURRENT_BINARY_DIR}/${id}_include.cmake")

  set(settings "")
  foreach(var PREFIX EXCLUDE_SUITES ENVIRONMENT LABELS PROPERTIES)
    string(TOLOWER "${var}" name)
    _atrium_bracket(quoted "${arg_${var}}")
    string(APPEND settings "set(${name} ${quoted})\n")
  endforeach()
  _atrium_bracket(quoted "${CMAKE_CURRENT_BINARY_DIR}")
  string(APPEND settings "set(working_directory ${quoted})\n")
  file(WRITE "${settings_file}" "${settings}")

  add_custom_command(
    TARGET ${target} POST_BUILD
    BYPRODUCTS "${tests_file}"
    COMMAND "${CMAKE_COMMAND}"
            -D "TEST_EXECUTABLE=$<TARGET_FILE:${target}>"
            -D "SETTINGS_FILE=${settings_file}"
            -D "CTEST_FILE=${tests_file}"
            -P "${_ATRIUM_DOCTEST_ADD_TESTS}"
    VERBATIM)

  file(WRITE "${include_file}"
    "if(EXISTS \"${tests_file}\")\n"
    "  include(\"${tests_file}\")\n"
    "else()\n"
    "  add_test(${id}_NOT_BUILT ${id}_NOT_BUILT)\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${include_file}")
endfunction()
