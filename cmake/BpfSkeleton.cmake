# Builds BPF programs with clang, links them into one object with `bpftool gen object`, and
# generates one libbpf skeleton header from it.
#
#   add_bpf_skeleton(<target> NAME <skeleton-name> VMLINUX <vmlinux.h.gz> SOURCES <a.bpf.c> ...
#                    DEPENDS <headers...>)
#
# <target> is an INTERFACE library whose include directory holds <skeleton-name>.skel.h.

find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin /usr/local/sbin REQUIRED)
find_program(GZIP gzip REQUIRED)

function(add_bpf_skeleton target)
  cmake_parse_arguments(ARG "" "NAME;VMLINUX" "SOURCES;DEPENDS" ${ARGN})
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/${target})
  file(MAKE_DIRECTORY ${out_dir})

  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
    set(bpf_arch x86)
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
    set(bpf_arch arm64)
  else()
    message(FATAL_ERROR "no BPF target architecture for ${CMAKE_SYSTEM_PROCESSOR}")
  endif()

  # The pinned vmlinux.h is stored compressed (it is ~2.8 MB); the build never reads the build
  # machine's BTF.
  set(vmlinux_h ${out_dir}/vmlinux.h)
  add_custom_command(
    OUTPUT ${vmlinux_h}
    COMMAND ${GZIP} -dc ${ARG_VMLINUX} > ${vmlinux_h}
    DEPENDS ${ARG_VMLINUX}
    COMMENT "Unpacking pinned vmlinux.h"
    VERBATIM)

  set(objects)
  foreach(src ${ARG_SOURCES})
    get_filename_component(base ${src} NAME_WE)
    set(obj ${out_dir}/${base}.bpf.o)
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${BPF_CLANG} -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${bpf_arch}
              -Wall -Werror -I${out_dir} -I${CMAKE_CURRENT_SOURCE_DIR}
              -c ${CMAKE_CURRENT_SOURCE_DIR}/${src} -o ${obj}
      DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${src} ${vmlinux_h} ${ARG_DEPENDS}
      COMMENT "BPF ${src}"
      VERBATIM)
    list(APPEND objects ${obj})
  endforeach()

  set(linked ${out_dir}/${ARG_NAME}.bpf.o)
  set(skel ${out_dir}/${ARG_NAME}.skel.h)
  add_custom_command(
    OUTPUT ${linked}
    COMMAND ${BPFTOOL} gen object ${linked} ${objects}
    DEPENDS ${objects}
    COMMENT "Linking BPF objects into ${ARG_NAME}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${linked} name ${ARG_NAME} > ${skel}
    DEPENDS ${linked}
    COMMENT "Generating ${ARG_NAME}.skel.h"
    VERBATIM)

  add_custom_target(${target}_gen DEPENDS ${skel})
  add_library(${target} INTERFACE)
  add_dependencies(${target} ${target}_gen)
  target_include_directories(${target} INTERFACE ${out_dir})
endfunction()
