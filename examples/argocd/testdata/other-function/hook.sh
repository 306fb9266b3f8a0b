#!/bin/sh
id > pwned
