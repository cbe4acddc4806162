# POST_BUILD step of atrium_discover_tests() (AtriumDoctest.cmake): lists the
# test cases of TEST_EXECUTABLE and writes CTEST_FILE, one add_test per case.
# Inputs: TEST_EXECUTABLE, SETTINGS_FILE (prefix, exclude_suites, environment,
# labels, properties, working_directory), CTEST_FILE.

cmake_minimum_required(VERSION 3.25)
include("${SETTINGS_FILE}")

set(filters "")
foreach(suite IN LISTS exclude_suites)
  string(REPLACE "," "\\," suite "${suite}")
  list(APPEND filters "--test-suite-exclude=${suite}")
endforeach()

# Test names may hold ';', '[' and ']', which CMake lists do not survive:
# they are encoded while the output is handled as a list.
function(_encode out text)
  string(REPLACE "[" "@ATRIUM_LB@" text "${text}")
  string(REPLACE "]" "@ATRIUM_RB@" text "${text}")
  string(REPLACE ";" "@ATRIUM_SC@" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()
function(_decode out text)
  string(REPLACE "@ATRIUM_LB@" "[" text "${text}")
  string(REPLACE "@ATRIUM_RB@" "]" text "${text}")
  string(REPLACE "@ATRIUM_SC@" ";" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# Runs the binary (with the registration's environment) and returns its listing
# lines, encoded, without doctest's own header and footer lines.
function(_list_lines out)
  execute_process(
    COMMAND "${CMAKE_COMMAND}" -E env ${environment} "${TEST_EXECUTABLE}" ${ARGN}
    OUTPUT_VARIABLE output
    ERROR_VARIABLE errors
    RESULT_VARIABLE result
    WORKING_DIRECTORY "${working_directory}")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "Error running test executable '${TEST_EXECUTABLE}' ${ARGN}:\n"
                        "  Result: ${result}\n  Output: ${output}\n  Errors: ${errors}\n")
  endif()
  _encode(output "${output}")
  string(REPLACE "\n" ";" output "${output}")
  set(lines "")
  foreach(line IN LISTS output)
    if(line STREQUAL "" OR line MATCHES "^=+$" OR line MATCHES "^@ATRIUM_LB@doctest@ATRIUM_RB@ ")
      continue()
    endif()
    list(APPEND lines "${line}")
  endforeach()
  set(${out} "${lines}" PARENT_SCOPE)
endfunction()

function(_bracket out value)
  set(eq "=")
  while(value MATCHES "]${eq}]")
    string(APPEND eq "=")
  endwhile()
  set(${out} "[${eq}[${value}]${eq}]" PARENT_SCOPE)
endfunction()

_list_lines(cases --list-test-cases ${filters})
if(NOT cases)
  message(FATAL_ERROR "'${TEST_EXECUTABLE}' lists no test case (filters: ${filters}; environment: ${environment})")
endif()

# Labels: the TEST_SUITE of each case, found with one listing per suite.
_list_lines(suites --list-test-suites ${filters})
foreach(suite IN LISTS suites)
  _decode(plain_suite "${suite}")
  string(REPLACE "," "\\," suite_filter "${plain_suite}")
  _list_lines(members --list-test-cases "--test-suite=${suite_filter}" ${filters})
  foreach(member IN LISTS members)
    string(MD5 key "${member}")
    list(APPEND "suite_of_${key}" "${plain_suite}")
  endforeach()
endforeach()

set(script "")
_bracket(exe "${TEST_EXECUTABLE}")
_bracket(wd "${working_directory}")
set(filter_args "")
foreach(filter IN LISTS filters)
  _bracket(quoted "${filter}")
  string(APPEND filter_args " ${quoted}")
endforeach()
set(property_args "")
foreach(item IN LISTS properties)
  _bracket(quoted "${item}")
  string(APPEND property_args " ${quoted}")
endforeach()
if(environment)
  _bracket(quoted "${environment}")
  string(APPEND property_args " ENVIRONMENT ${quoted}")
endif()
set(count 0)
set(seen "")
foreach(case IN LISTS cases)
  _decode(name "${case}")
  string(MD5 key "${case}")
  if(key IN_LIST seen)
    message(FATAL_ERROR "'${TEST_EXECUTABLE}' has two test cases named '${name}'")
  endif()
  list(APPEND seen "${key}")
  set(case_labels ${labels} ${suite_of_${key}})
  string(REPLACE "," "\\," filter "${name}")
  _bracket(test_name "${prefix}${name}")
  _bracket(case_filter "--test-case=${filter}")
  _bracket(label_list "${case_labels}")
  string(APPEND script "add_test(${test_name} ${exe} ${case_filter}${filter_args})\n")
  # A run that executes no case (a name the filter does not match) fails.
  string(APPEND script "set_tests_properties(${test_name} PROPERTIES WORKING_DIRECTORY ${wd}"
                       " FAIL_REGULAR_EXPRESSION [==[test cases: *0 \\| *0 passed]==]"
                       " LABELS ${label_list}${property_args})\n")
  math(EXPR count "${count} + 1")
endforeach()

file(WRITE "${CTEST_FILE}" "${script}")
